/**
 * Running the `git` binary for a Git source: a fixed, isolated environment, the token passed
 * only through the environment of the git process and its askpass helper (never in argv, which
 * `ps` shows, nor in a config file), stderr with any trace of the token removed, and failures
 * turned into a {@link SourceError} that says what went wrong in words.
 */
import { join } from "node:path";
import { SourceError, type SourceErrorCode } from "./source_error.ts";

/**
 * Answers git's credential prompts from the environment: the user name for "Username for ...",
 * the token for "Password for ...", and a failure when there is no token (git then reports
 * that the server wants credentials, instead of waiting on a terminal).
 */
const ASKPASS_SCRIPT = `#!/bin/sh
case "$1" in
  [Uu]sername*) printf '%s\\n' "$SEMANTIK_GIT_USERNAME" ;;
  *) [ -n "$SEMANTIK_GIT_TOKEN" ] || exit 1; printf '%s\\n' "$SEMANTIK_GIT_TOKEN" ;;
esac
`;

/** The user name sent with a token when the URL names none (GitHub's, accepted by most hosts). */
export const DEFAULT_TOKEN_USERNAME = "x-access-token";

export interface GitEnvironmentOptions {
  /** The remote's URL: its protocol is the only one git may use. */
  url: string;
  /** The HTTPS password or access token. @default {none} */
  token?: string;
  /** Where the askpass helper is written (the source's directory). */
  directory: string;
  /** The ssh command for `ssh://` remotes. @default {"ssh -o BatchMode=yes"} */
  sshCommand?: string;
  /** More variables (e.g. GIT_SSL_CAINFO for a private CA). @default {{}} */
  env?: Record<string, string>;
}

/** Writes the askpass helper (no secret in it) and returns the environment for git. */
export async function gitEnvironment(
  options: GitEnvironmentOptions,
): Promise<Record<string, string>> {
  const { url, token, directory, sshCommand = "ssh -o BatchMode=yes", env = {} } = options;
  const askpass = join(directory, "askpass.sh");
  await Deno.mkdir(directory, { recursive: true });
  const existing = await Deno.readTextFile(askpass).catch(() => undefined);
  if (existing !== ASKPASS_SCRIPT) {
    const temp = `${askpass}.${crypto.randomUUID()}`;
    await Deno.writeTextFile(temp, ASKPASS_SCRIPT, { mode: 0o700 });
    await Deno.rename(temp, askpass);
  }
  const protocol = new URL(url).protocol.replace(/:$/, "");
  const config: [string, string][] = [
    // No credential helper may supply a stored password or keep ours.
    ["credential.helper", ""],
    ["core.askPass", askpass],
    ["protocol.version", "2"],
  ];
  const vars: Record<string, string> = {
    ...env,
    // Messages in English: failures are classified by them.
    LC_ALL: "C",
    LANG: "C",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: askpass,
    SSH_ASKPASS_REQUIRE: "never",
    GIT_SSH_COMMAND: sshCommand,
    // Only the source's own protocol: no ext::, no https -> http redirect.
    GIT_ALLOW_PROTOCOL: protocol,
    GIT_HTTP_LOW_SPEED_LIMIT: "1000",
    GIT_HTTP_LOW_SPEED_TIME: "60",
    GIT_CONFIG_COUNT: String(config.length),
    SEMANTIK_GIT_USERNAME: new URL(url).username === "" ? DEFAULT_TOKEN_USERNAME : "",
  };
  config.forEach(([key, value], i) => {
    vars[`GIT_CONFIG_KEY_${i}`] = key;
    vars[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  if (token !== undefined) vars.SEMANTIK_GIT_TOKEN = token;
  return vars;
}

export interface RunGitOptions {
  /** The git binary. @default {"git"} */
  git?: string;
  env: Record<string, string>;
  /** Removed from anything kept of the output (error messages). */
  secret?: string;
  signal?: AbortSignal;
  /** What the command was for, for the error message ("fetch https://...@main"). */
  what: string;
}

/** Runs git; resolves with its stdout, or throws a {@link SourceError} naming the cause. */
export async function runGit(args: readonly string[], options: RunGitOptions): Promise<Uint8Array> {
  const { git = "git", env, secret, signal, what } = options;
  signal?.throwIfAborted();
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(git, {
      args: [...args],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof Deno.errors.NotFound) {
      throw new SourceError("invalid", `Cannot ${what}: the git binary (${git}) is not installed`);
    }
    throw err;
  }
  if (signal?.aborted) throw signal.reason;
  if (output.success) return output.stdout;
  const stderr = redact(new TextDecoder().decode(output.stderr), secret).trim();
  const { code, hint } = classifyGitFailure(stderr);
  const detail = stderr.split("\n").filter((l) => l.trim() !== "").slice(-3).join(" / ");
  throw new SourceError(code, `Cannot ${what}: ${hint}${detail ? ` (git: ${detail})` : ""}`);
}

/** Removes every occurrence of `secret` (and its URL-encoded form) from `text`. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text.split(secret).join("***");
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret) out = out.split(encoded).join("***");
  return out;
}

const RULES: [RegExp, SourceErrorCode, string][] = [
  [
    /could not read (Username|Password)|terminal prompts disabled/i,
    "auth_failed",
    "the server asks for credentials: give the source a token",
  ],
  [
    /Authentication failed|returned error: 40[13]|HTTP Basic: Access denied|Invalid username or password/i,
    "auth_failed",
    "the server refused the credentials (token wrong, expired or without read access)",
  ],
  [
    /Permission denied \(publickey|Host key verification failed/i,
    "auth_failed",
    "the SSH server refused this worker's key or is not a known host",
  ],
  [
    /couldn't find remote ref|Remote branch .* not found|not our ref|unadvertised object/i,
    "not_found",
    "the ref does not exist in the repository",
  ],
  [
    /Repository not found|does not appear to be a git repository|returned error: 404|not a git repository/i,
    "not_found",
    "no repository at this URL",
  ],
  [
    /transport '.*' not allowed|protocol '.*' is not supported/i,
    "not_allowed",
    "the remote leads to a protocol Git sources may not use",
  ],
];

function classifyGitFailure(stderr: string): { code: SourceErrorCode; hint: string } {
  for (const [pattern, code, hint] of RULES) {
    if (pattern.test(stderr)) return { code, hint };
  }
  return { code: "unreachable", hint: "git failed" };
}
