/**
 * A proxy in front of a Qdrant (the fake, in these scenarios) that fails every point upsert into
 * chosen collections, as a Qdrant whose storage for one collection is broken would: a task that
 * always throws, for real, while every other call and collection works. Failed calls answer
 * Qdrant's error body with status 500, so the store retries them as transient before giving up.
 * It can also hold every upsert unanswered until told (a Qdrant that stalls): no document of any
 * worker is written meanwhile, whatever the machine's speed.
 */

/** Options of {@link startFailingQdrantProxy}. */
export interface FailingQdrantProxyOptions {
  /** The Qdrant to forward to, e.g. the fake's URL. */
  target: string;
  /** The error text of failed upserts. @default {"Service internal error: No space left on device (os error 28)"} */
  error?: string;
}

export interface FailingQdrantProxy {
  /** `http://127.0.0.1:<port>`: give it to the processes as QDRANT_URL. */
  readonly url: string;
  /** The error text failed upserts answer with. */
  readonly error: string;
  /** Upserts into collections whose name starts with `prefix` fail from now on. */
  failUpserts(prefix: string): void;
  /** Upserts into collections whose name starts with `prefix` work again. */
  heal(prefix: string): void;
  /** Upserts answered with the injected failure so far. */
  readonly failed: number;
  /**
   * Upserts from now on wait, unforwarded, until {@link releaseUpserts}: all of them, or those
   * into collections whose name starts with `prefix` (holds add up).
   */
  holdUpserts(prefix?: string): void;
  /**
   * Forwards the held upserts and stops holding. One whose client went away meanwhile (its
   * process exited) is dropped, never forwarded: a gone worker's write must not land later.
   */
  releaseUpserts(): void;
  /** Upserts waiting now. */
  readonly held: number;
  close(): Promise<void>;
}

/** Starts the proxy on a free port of 127.0.0.1. */
export function startFailingQdrantProxy(options: FailingQdrantProxyOptions): FailingQdrantProxy {
  const {
    target,
    error = "Service internal error: No space left on device (os error 28)",
  } = options;
  const prefixes: string[] = [];
  let failed = 0;
  let hold: PromiseWithResolvers<void> | undefined;
  /** What is held: every upsert (""), or those into collections with these name prefixes. */
  const holding: string[] = [];
  let held = 0;
  const upsertInto = (method: string, path: string): string | undefined => {
    // PUT /collections/{name}/points is the upsert (POST .../points is a retrieve).
    const m = /^\/collections\/([^/]+)\/points$/.exec(path);
    return method === "PUT" && m ? decodeURIComponent(m[1]!) : undefined;
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const name = upsertInto(req.method, url.pathname);
    if (name !== undefined && prefixes.some((p) => name.startsWith(p))) {
      await req.body?.cancel();
      failed++;
      return Response.json({ status: { error }, time: 0 }, { status: 500 });
    }
    if (name !== undefined && hold && holding.some((p) => name.startsWith(p))) {
      const gone = Promise.withResolvers<void>();
      req.signal.addEventListener("abort", () => gone.resolve(), { once: true });
      held++;
      try {
        await Promise.race([hold.promise, gone.promise]);
      } finally {
        held--;
      }
      if (req.signal.aborted) return new Response(null, { status: 499 });
    }
    const headers = new Headers(req.headers);
    for (const h of ["host", "content-length", "connection"]) headers.delete(h);
    const forwarded = await fetch(`${target}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
    });
    return new Response(await forwarded.arrayBuffer(), {
      status: forwarded.status,
      headers: forwarded.headers,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    error,
    failUpserts(prefix) {
      prefixes.push(prefix);
    },
    heal(prefix) {
      for (let i = prefixes.indexOf(prefix); i >= 0; i = prefixes.indexOf(prefix)) {
        prefixes.splice(i, 1);
      }
    },
    get failed() {
      return failed;
    },
    holdUpserts(prefix = "") {
      hold ??= Promise.withResolvers<void>();
      holding.push(prefix);
    },
    releaseUpserts() {
      hold?.resolve();
      hold = undefined;
      holding.length = 0;
    },
    get held() {
      return held;
    },
    async close() {
      hold?.resolve();
      await server.shutdown();
    },
  };
}
