/**
 * One HTTP request of a web source, made safely: the host's addresses are resolved and every one
 * checked before connecting (loopback, private, link-local... refused unless private networks
 * are allowed), plain-HTTP connections go to the very address checked (so a second DNS answer
 * cannot swap in an internal one; for HTTPS, certificate validation for the name does that), one
 * request at a time per host with a pause, a time limit over headers and body together, and the
 * body read up to a byte cap. Redirects are not followed here: the crawler checks each hop
 * (scope, loops) and calls again, so each hop is checked too.
 */
import { isPublicAddress, resolveWithDns } from "./private_address.ts";
import { type HostPacer, sharedHostPacer } from "./host_pacer.ts";
import { readBounded } from "./_read_bounded.ts";
import { errorMessage } from "../errors.ts";

/** Why a request did not give a response to work with. */
export type FetchErrorCode =
  /** The address is loopback or on a private network, and those are not allowed. */
  | "refused"
  /** No answer within the time limit. */
  | "timeout"
  /** DNS or connection failure. */
  | "network"
  /** The body is larger than the cap. */
  | "too_large";

export class FetchError extends Error {
  readonly code: FetchErrorCode;
  /** Another attempt later may succeed. */
  readonly transient: boolean;
  constructor(code: FetchErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FetchError";
    this.code = code;
    this.transient = code === "timeout" || code === "network";
  }
}

export interface WebFetcherOptions {
  /** SOURCE_ALLOW_PRIVATE_NETWORKS: skip the address checks. @default {false} */
  allowPrivateNetworks?: boolean;
  /** Sent as User-Agent and matched against robots.txt groups. @default {"SemantikBot/1.0"} */
  userAgent?: string;
  /** Time limit of one request, headers and body together. @default {30000} */
  timeoutMs?: number;
  /** Pause between two requests to one host, from the end of one to the start of the next. @default {1000} */
  delayMs?: number;
  /** Shared across sources so they take turns on a host. @default {sharedHostPacer} */
  pacer?: HostPacer;
  /** The addresses of a host name. @default {A and AAAA records through Deno.resolveDns} */
  resolveHost?: (hostname: string) => Promise<string[]>;
  /** Which addresses may be connected to. @default {isPublicAddress} */
  isAddressAllowed?: (address: string) => boolean;
}

export interface FetchRequest {
  headers?: Record<string, string>;
  /** Whether to read the body of this response (else it is discarded unread). */
  readBody: (response: Response) => boolean;
  /** Most body bytes kept; a larger body is a `too_large` error. */
  maxBytes: number;
  signal?: AbortSignal;
}

export interface FetchedResponse {
  url: string;
  status: number;
  headers: Headers;
  /** The body when `readBody` asked for it. */
  body: Uint8Array | undefined;
}

export const DEFAULT_USER_AGENT = "SemantikBot/1.0";

export class WebFetcher {
  readonly #allowPrivate: boolean;
  readonly userAgent: string;
  readonly #timeoutMs: number;
  delayMs: number;
  readonly #pacer: HostPacer;
  readonly #resolveHost: (hostname: string) => Promise<string[]>;
  readonly #isAllowed: (address: string) => boolean;
  readonly #clients = new Map<string, Deno.HttpClient>();
  /** HTTP requests made, redirects and refusals included. */
  requests = 0;

  constructor(options: WebFetcherOptions = {}) {
    const {
      allowPrivateNetworks = false,
      userAgent = DEFAULT_USER_AGENT,
      timeoutMs = 30_000,
      delayMs = 1000,
      pacer = sharedHostPacer,
      resolveHost = resolveWithDns,
      isAddressAllowed = isPublicAddress,
    } = options;
    for (const [name, v] of Object.entries({ timeoutMs, delayMs })) {
      if (!(Number.isFinite(v) && v >= 0)) {
        throw new RangeError(`Cannot create web fetcher: ${name} must not be negative, got ${v}`);
      }
    }
    this.#allowPrivate = allowPrivateNetworks;
    this.userAgent = userAgent;
    this.#timeoutMs = timeoutMs;
    this.delayMs = delayMs;
    this.#pacer = pacer;
    this.#resolveHost = resolveHost;
    this.#isAllowed = isAddressAllowed;
  }

  /**
   * One GET of `url`, redirects not followed (a 3xx comes back with its Location header).
   * @throws {FetchError} refused address, timeout, network failure, body over the cap; the
   * signal's reason when aborted.
   */
  async get(url: string, request: FetchRequest): Promise<FetchedResponse> {
    const { headers = {}, readBody, maxBytes, signal } = request;
    const u = new URL(url);
    return await this.#pacer.run(u.host, this.delayMs, async () => {
      this.requests++;
      const pinned = await this.#checkHost(u, signal);
      const client = pinned === undefined ? undefined : this.#clientFor(pinned, u);
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new FetchError("timeout", `no answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
      try {
        const response = await fetch(url, {
          headers: { "user-agent": this.userAgent, ...headers },
          redirect: "manual",
          signal: combined,
          client,
        });
        let body: Uint8Array | undefined;
        if (readBody(response) && response.body) {
          const declared = Number(response.headers.get("content-length"));
          if (Number.isFinite(declared) && declared > maxBytes) {
            await response.body.cancel().catch(() => {});
            throw tooLarge(maxBytes, declared);
          }
          body = await readBounded(response.body, maxBytes, { signal: combined });
          if (body === undefined) throw tooLarge(maxBytes);
        } else {
          await response.body?.cancel().catch(() => {});
        }
        return { url, status: response.status, headers: response.headers, body };
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof FetchError) throw err;
        if (timeout.signal.aborted) throw timeout.signal.reason;
        throw new FetchError("network", `cannot fetch: ${errorMessage(err)}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    }, signal);
  }

  /** Closes the pinned connections. */
  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  /**
   * Checks every address of the URL's host; returns the one to connect to for plain HTTP
   * (undefined: let fetch connect, when private networks are allowed or for HTTPS).
   */
  async #checkHost(u: URL, signal?: AbortSignal): Promise<string | undefined> {
    if (this.#allowPrivate) return undefined;
    const host = u.hostname.replace(/^\[|\]$/g, "");
    let addresses: string[];
    if (/^[\d.]+$/.test(host) || host.includes(":")) {
      addresses = [host];
    } else if (host === "localhost" || host.endsWith(".localhost")) {
      // RFC 6761: always loopback, whatever DNS says.
      addresses = ["127.0.0.1", "::1"];
    } else {
      try {
        addresses = await this.#resolveHost(host);
      } catch (err) {
        throw new FetchError("network", `cannot resolve ${host}: ${errorMessage(err)}`, {
          cause: err,
        });
      }
      signal?.throwIfAborted();
      if (addresses.length === 0) throw new FetchError("network", `cannot resolve ${host}`);
    }
    const refused = addresses.find((a) => !this.#isAllowed(a));
    if (refused !== undefined) {
      throw new FetchError(
        "refused",
        `${host} resolves to ${refused}, a loopback or private-network address ` +
          "(allowed only with SOURCE_ALLOW_PRIVATE_NETWORKS=true)",
      );
    }
    return u.protocol === "http:" ? addresses[0] : undefined;
  }

  #clientFor(address: string, u: URL): Deno.HttpClient {
    const port = Number(u.port || 80);
    const key = `${address}|${port}`;
    let client = this.#clients.get(key);
    if (!client) {
      client = Deno.createHttpClient({ proxy: { transport: "tcp", hostname: address, port } });
      this.#clients.set(key, client);
    }
    return client;
  }
}

function tooLarge(maxBytes: number, size?: number): FetchError {
  return new FetchError(
    "too_large",
    `page is larger than the ${maxBytes} byte limit${size === undefined ? "" : `: ${size} bytes`}`,
  );
}
