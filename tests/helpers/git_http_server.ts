/**
 * Git's smart HTTP protocol for tests: `git http-backend` (the CGI program git ships) behind a
 * small Deno HTTPS server, with optional basic auth. It counts requests and the bytes it sent,
 * so a test can see what a fetch transferred.
 */

export interface GitHttpServerOptions {
  /** The directory holding the repositories served (`https://host/<name>` serves `<root>/<name>`). */
  projectRoot: string;
  /** TLS certificate and key (PEM). */
  cert: string;
  key: string;
  /** Required basic-auth credentials. @default {none (anonymous)} */
  credentials?: { username: string; password: string };
}

export interface GitHttpRequest {
  method: string;
  path: string;
  status: number;
  /** Response body bytes. */
  bytes: number;
}

export interface GitHttpServer {
  /** `https://127.0.0.1:<port>` */
  origin: string;
  requests: GitHttpRequest[];
  close(): Promise<void>;
}

export function startGitHttpServer(options: GitHttpServerOptions): GitHttpServer {
  const requests: GitHttpRequest[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: options.cert,
      key: options.key,
      signal: ac.signal,
      onListen() {},
    },
    async (req) => {
      const url = new URL(req.url);
      const record = (status: number, bytes: number) =>
        requests.push({ method: req.method, path: url.pathname + url.search, status, bytes });
      if (options.credentials && !authorized(req, options.credentials)) {
        record(401, 0);
        return new Response("authentication required\n", {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="git"' },
        });
      }
      const body = new Uint8Array(await req.arrayBuffer());
      const env: Record<string, string> = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: options.projectRoot,
        GIT_HTTP_EXPORT_ALL: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_CONFIG_NOSYSTEM: "1",
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ""),
        CONTENT_TYPE: req.headers.get("content-type") ?? "",
        CONTENT_LENGTH: String(body.length),
        REMOTE_ADDR: "127.0.0.1",
        REMOTE_USER: options.credentials?.username ?? "",
        GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
        HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") ?? "",
      };
      const child = new Deno.Command("git", {
        args: ["http-backend"],
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(body);
      await writer.close();
      const out = await child.output();
      const { status, headers, payload } = parseCgi(out.stdout);
      record(status, payload.length);
      return new Response(payload, { status, headers });
    },
  );
  return {
    origin: `https://127.0.0.1:${server.addr.port}`,
    requests,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

function authorized(req: Request, c: { username: string; password: string }): boolean {
  const header = req.headers.get("authorization") ?? "";
  const match = /^Basic (.+)$/.exec(header);
  if (!match) return false;
  return atob(match[1]!) === `${c.username}:${c.password}`;
}

function parseCgi(
  output: Uint8Array<ArrayBuffer>,
): { status: number; headers: Headers; payload: Uint8Array<ArrayBuffer> } {
  // Headers end at the first empty line (CRLF or LF).
  let end = -1;
  let skip = 0;
  for (let i = 0; i < output.length - 1; i++) {
    if (output[i] === 0x0a && output[i + 1] === 0x0a) {
      end = i;
      skip = 2;
      break;
    }
    if (
      output[i] === 0x0d && output[i + 1] === 0x0a && output[i + 2] === 0x0d &&
      output[i + 3] === 0x0a
    ) {
      end = i;
      skip = 4;
      break;
    }
  }
  if (end < 0) return { status: 500, headers: new Headers(), payload: output };
  const headers = new Headers();
  let status = 200;
  for (const line of new TextDecoder().decode(output.subarray(0, end)).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
    else headers.append(name, value);
  }
  return { status, headers, payload: output.slice(end + skip) };
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl in `dir`. */
export async function makeTestCertificate(
  dir: string,
): Promise<{ cert: string; key: string; certPath: string }> {
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return {
    cert: await Deno.readTextFile(certPath),
    key: await Deno.readTextFile(keyPath),
    certPath,
  };
}
