/**
 * `deno task index <dir> [--collection NAME] [--api URL] [--register]`: indexes a directory
 * through a running API and shows the operation's live progress.
 *
 * Logs in with SEMANTIK_USERNAME / SEMANTIK_PASSWORD (registering that user first with
 * --register), or uses SEMANTIK_TOKEN. Creates the collection over the directory (named after it
 * unless --collection says otherwise), or runs a sync when a collection of that name exists.
 * Follows `/ws/operations/{id}` (resuming from the last event id after a dropped connection),
 * prints the final counts, and exits 1 when the operation fails or is cancelled, 2 on bad usage
 * (an unknown flag included). `--help` lists the flags and every environment variable read.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";

interface Operation {
  id: string;
  collection_id: string;
  type: string;
  status: string;
  progress: number;
  message: string;
  error_message: string | null;
  metadata: Record<string, unknown>;
}

const USAGE = "Usage: deno task index <dir> [--collection NAME] [--api URL] [--register]";

const DEFAULT_API = "http://127.0.0.1:8080";

export const HELP = `${USAGE}

Indexes <dir> through a running Semantik API: creates a collection over it (or syncs the
collection of that name when it exists), shows the operation's live progress and prints the
final counts.

Options:
  -c, --collection NAME  the collection's name (default: the directory's name)
      --api URL          the API's base URL (default: SEMANTIK_API, else ${DEFAULT_API})
      --register         register SEMANTIK_USERNAME with SEMANTIK_PASSWORD first, where the
                         server allows registration (a user who exists already just logs in)
  -h, --help             this help

Environment:
  SEMANTIK_API       the API's base URL when --api is not given (default ${DEFAULT_API})
  SEMANTIK_TOKEN     a bearer token to use instead of logging in
  SEMANTIK_USERNAME  the user to log in (and with --register, register) as
  SEMANTIK_PASSWORD  that user's password (at least 8 characters)
  INIT_CWD           set by deno task to the directory it was run from: a relative <dir> is
                     read from there

Exit status: 0 when the operation completed; 1 when it failed or was cancelled, or the API
refused a request; 2 on bad usage.`;

class CliError extends Error {
  constructor(message: string, readonly code = 1) {
    super(message);
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        collection: { type: "string", short: "c" },
        api: { type: "string" },
        register: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (err) {
    // An unknown flag, or a flag without its value.
    throw new CliError(`${(err as Error).message}\n${USAGE} (--help for more)`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`${USAGE} (--help for more)`, 2);
  // deno task runs in the project's directory; INIT_CWD is where it was started.
  const from = Deno.env.get("INIT_CWD") || Deno.cwd();
  const dir = await Deno.realPath(resolve(from, positionals[0]!)).catch(() => {
    throw new CliError(`Cannot index ${positionals[0]}: no such directory`, 2);
  });
  const base = (values.api ?? Deno.env.get("SEMANTIK_API") ?? DEFAULT_API).replace(/\/$/, "");
  const name = values.collection ?? (dir.split("/").filter(Boolean).pop() || "documents");

  const givenToken = Deno.env.get("SEMANTIK_TOKEN");
  if (values.register && givenToken) {
    throw new CliError("--register logs in as SEMANTIK_USERNAME: unset SEMANTIK_TOKEN", 2);
  }
  const token = givenToken ?? await login(base, values.register === true);
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`Cannot reach the API at ${base}: ${(err as Error).message}`);
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      throw new CliError(
        `${method} ${path} failed (${res.status}): ${data?.error?.message ?? "no detail"}`,
      );
    }
    return data as T;
  };

  const existing = await findCollection(call, name);
  let op: Operation;
  if (existing) {
    console.log(`Collection ${name} exists: syncing it with ${dir}`);
    op = (await call<{ operation: Operation }>("POST", `/api/v2/collections/${existing}/sync`))
      .operation;
  } else {
    console.log(`Creating collection ${name} over ${dir}`);
    const res = await call<{ operation: Operation | null }>("POST", "/api/v2/collections", {
      name,
      source: { type: "directory", path: dir },
    });
    if (!res.operation) throw new CliError("The API started no operation for the new collection");
    op = res.operation;
  }
  const final = await follow(
    base,
    token,
    op,
    () => call<Operation>("GET", `/api/v2/operations/${op.id}`),
  );
  const m = final.metadata ?? {};
  const line = (k: string) => (k in m ? `  ${k.replaceAll("_", " ")}: ${m[k]}` : undefined);
  console.log(
    `\n${final.type} ${final.status}${final.error_message ? `: ${final.error_message}` : ""}`,
  );
  for (
    const k of [
      "documents_total",
      "documents_processed",
      "documents_skipped",
      "documents_failed",
      "chunks_created",
      "added",
      "modified",
      "deleted",
    ]
  ) {
    const l = line(k);
    if (l) console.log(l);
  }
  return final.status === "completed" ? 0 : 1;
}

async function login(base: string, register: boolean): Promise<string> {
  const username = Deno.env.get("SEMANTIK_USERNAME");
  const password = Deno.env.get("SEMANTIK_PASSWORD");
  if (!username || !password) {
    throw new CliError("Set SEMANTIK_TOKEN, or SEMANTIK_USERNAME and SEMANTIK_PASSWORD", 2);
  }
  const post = async (path: string) => {
    try {
      const res = await fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password }),
      });
      return { status: res.status, data: await res.json().catch(() => null) };
    } catch (err) {
      throw new CliError(`Cannot reach the API at ${base}: ${(err as Error).message}`);
    }
  };
  if (register) {
    const reg = await post("/api/auth/register");
    if (reg.status === 201) console.log(`Registered ${username}`);
    else if (reg.status === 400) {
      throw new CliError(`Cannot register ${username}: ${reg.data?.error?.message}`, 2);
    } else if (reg.status !== 409) {
      // 409: the user exists already, and logging in says whether the password is theirs.
      throw new CliError(
        `Cannot register ${username}: ${reg.data?.error?.message ?? reg.status}`,
      );
    }
  }
  const res = await post("/api/auth/login");
  if (res.status !== 200) {
    const hint = register || res.status !== 401
      ? ""
      : " (a new user? add --register, or register in the dashboard)";
    throw new CliError(`Cannot log in: ${res.data?.error?.message ?? res.status}${hint}`);
  }
  return res.data.access_token;
}

async function findCollection(
  call: <T>(method: string, path: string) => Promise<T>,
  name: string,
): Promise<string | undefined> {
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page: { collections: { id: string; name: string }[]; next_cursor: string | null } =
      await call(
        "GET",
        `/api/v2/collections?limit=100${q}`,
      );
    const hit = page.collections.find((c) => c.name === name);
    if (hit) return hit.id;
    cursor = page.next_cursor;
  } while (cursor);
  return undefined;
}

function bar(op: Pick<Operation, "progress" | "status" | "message">): string {
  const width = 30;
  const filled = Math.round((op.progress / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
    String(op.progress).padStart(3)
  }% ${op.status} ${op.message ?? ""}`.slice(0, 110);
}

/** Follows the operation over its WebSocket until a terminal frame; reconnects with `since`. */
async function follow(
  base: string,
  token: string,
  op: Operation,
  fetchOp: () => Promise<Operation>,
): Promise<Operation> {
  const tty = Deno.stdout.isTerminal();
  const show = (o: Pick<Operation, "progress" | "status" | "message">) => {
    if (tty) Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${bar(o)}`));
    else console.log(bar(o));
  };
  let since = 0;
  for (let attempt = 0; attempt < 30; attempt++) {
    const url = new URL(`/ws/operations/${op.id}${since ? `?since=${since}` : ""}`, base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const outcome = await new Promise<"done" | "dropped">((done) => {
      const ws = new WebSocket(url, [`access_token.${token}`]);
      ws.onmessage = (e) => {
        const frame = JSON.parse(String(e.data));
        if (typeof frame.event_id === "number") since = Math.max(since, frame.event_id);
        if (frame.operation_id) {
          show(frame);
          if (["completed", "failed", "cancelled"].includes(frame.status)) done("done");
        }
      };
      ws.onclose = (e) => done(e.code === 1000 ? "done" : "dropped");
      ws.onerror = () => {};
    });
    const current = await fetchOp();
    if (["completed", "failed", "cancelled"].includes(current.status)) {
      if (tty) console.log();
      return current;
    }
    if (outcome === "done") continue;
    await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5000)));
  }
  throw new CliError(`Lost the operation ${op.id}: the WebSocket kept dropping`);
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(err instanceof CliError ? err.code : 1);
  }
}
