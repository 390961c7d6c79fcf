/**
 * The URLs and refs a Git source accepts: `https://`, `ssh://` and `file://` URLs (no
 * credentials in them: a token goes in the source's `token`, so URLs can be shown, logged and
 * put in document uris), and refs Git itself would accept.
 */
import { fileURLToPath } from "node:url";
import { resolveSourcePath } from "../extraction/resolve_source_path.ts";
import { hasSpaceOrControl } from "./_control_chars.ts";

export const GIT_PROTOCOLS = ["https:", "ssh:", "file:"] as const;

/** Why `url` is not a Git source URL, or undefined when it is one. */
export function gitUrlProblem(url: string): string | undefined {
  if (hasSpaceOrControl(url)) return "must not contain spaces or control characters";
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return /^[\w.-]+@[\w.-]+:/.test(url)
      ? "scp-like addresses are not accepted: write ssh://user@host/path"
      : "must be a URL";
  }
  if (!(GIT_PROTOCOLS as readonly string[]).includes(u.protocol)) {
    return `must be an https://, ssh:// or file:// URL, got ${u.protocol}//`;
  }
  if (u.password !== "") return "must not contain a password: give it as the source's token";
  if (u.search !== "" || u.hash !== "") return "must not have a query or a fragment";
  if (u.protocol === "file:") {
    if (u.hostname !== "" && u.hostname !== "localhost") return "file:// URLs name no host";
    return undefined;
  }
  if (u.hostname === "") return "must name a host";
  // Git once passed a host starting with "-" to ssh as an option (CVE-2017-1000117).
  if (u.hostname.startsWith("-") || u.username.startsWith("-")) {
    return "host and user must not start with '-'";
  }
  if (u.pathname === "" || u.pathname === "/") return "must name a repository path";
  return undefined;
}

/**
 * Whether `ref` is a branch, tag or commit name Git accepts (`git check-ref-format` rules for
 * the name; a full or abbreviated commit id passes too).
 */
export function isValidGitRef(ref: string): boolean {
  if (ref === "" || ref.length > 256 || ref === "@") return false;
  if (hasSpaceOrControl(ref) || /[~^:?*[\\]/.test(ref)) return false;
  if (ref.includes("..") || ref.includes("@{") || ref.includes("//")) return false;
  if (ref.startsWith("-") || ref.startsWith("/") || ref.endsWith("/") || ref.endsWith(".")) {
    return false;
  }
  return ref.split("/").every((part) => !part.startsWith(".") && !part.endsWith(".lock"));
}

/** Whether `ref` looks like a full commit id (SHA-1 or SHA-256). */
export function isCommitId(ref: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(ref);
}

export interface CheckGitUrlOptions {
  /** DOCUMENT_ROOTS: a `file://` repository must resolve inside one of them. */
  documentRoots: readonly string[];
}

/**
 * Checks a Git source URL before it is stored and before each sync: a well-formed URL of an
 * accepted protocol, and for `file://` a directory inside DOCUMENT_ROOTS (symlinks resolved).
 *
 * @throws {TypeError} naming the problem of a malformed URL; {@link AppError}
 * `path_not_allowed` for a `file://` repository outside DOCUMENT_ROOTS (or missing).
 */
export async function checkGitUrl(url: string, options: CheckGitUrlOptions): Promise<void> {
  const problem = gitUrlProblem(url);
  if (problem) throw new TypeError(`Cannot use Git URL ${JSON.stringify(url)}: ${problem}`);
  const u = new URL(url);
  if (u.protocol === "file:") {
    await resolveSourcePath(fileURLToPath(new URL(`file://${u.pathname}`)), options.documentRoots);
  }
}
