/**
 * The configuration of each kind of source, validated at the edge (zod): what a collection's
 * `source` may be: the API's `Source` (collection create, `POST /collections/{id}/sources`).
 */
import { z } from "zod";
import { gitUrlProblem, isValidGitRef } from "./git_url.ts";
import { hasControlChar, hasSpaceOrControl } from "./_control_chars.ts";

/** A crawl takes at most this many pages unless the source says otherwise. */
export const DEFAULT_MAX_PAGES = 1000;
/** Links followed from the start page at most (the start page is depth 0). */
export const DEFAULT_MAX_DEPTH = 5;

const glob = z.string().min(1).max(512);
const globs = z.array(glob).max(100).optional();

/** `{type: "directory", path, include?, exclude?}`: a directory inside DOCUMENT_ROOTS. */
export const directorySourceSchema = z.strictObject({
  type: z.literal("directory"),
  path: z.string().min(1).max(4096),
  include: globs,
  exclude: globs,
});
export type DirectorySourceConfig = z.infer<typeof directorySourceSchema>;

/**
 * `{type: "git", url, ref?, include?, exclude?, token?}`: `url` is `https://`, `ssh://` or
 * `file://` (inside DOCUMENT_ROOTS, checked by `checkGitUrl`); `ref` a branch, tag or commit
 * (default: the remote's default branch); `token` the HTTPS password or access token.
 */
export const gitSourceSchema = z.strictObject({
  type: z.literal("git"),
  url: z.string().min(1).max(2048).superRefine((url, ctx) => {
    const problem = gitUrlProblem(url);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  ref: z.string().refine(isValidGitRef, "must be a branch, tag or commit name").optional(),
  include: globs,
  exclude: globs,
  token: z.string().min(1).max(4096).refine((t) => !hasControlChar(t), {
    message: "must not contain control characters",
  }).optional(),
});
export type GitSourceConfig = z.infer<typeof gitSourceSchema>;

/**
 * `{type: "web", url, max_pages?, max_depth?, include?, exclude?}`: the pages under `url`'s host
 * and path prefix; globs match the page path relative to that prefix.
 */
export const webSourceSchema = z.strictObject({
  type: z.literal("web"),
  url: z.string().min(1).max(2048).superRefine((url, ctx) => {
    const problem = webUrlProblem(url);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  max_pages: z.number().int().min(1).max(100_000).optional(),
  max_depth: z.number().int().min(0).max(100).optional(),
  include: globs,
  exclude: globs,
});
export type WebSourceConfig = z.infer<typeof webSourceSchema>;

/** Any source, told apart by `type`. */
export const sourceConfigSchema = z.discriminatedUnion("type", [
  directorySourceSchema,
  gitSourceSchema,
  webSourceSchema,
]);
export type SourceConfig = z.infer<typeof sourceConfigSchema>;

/** Why `url` cannot start a crawl, or undefined when it can. */
export function webUrlProblem(url: string): string | undefined {
  if (hasSpaceOrControl(url)) return "must not contain spaces or control characters";
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "must be a URL";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    return `must be an http:// or https:// URL, got ${u.protocol}//`;
  }
  if (u.username !== "" || u.password !== "") return "must not contain credentials";
  if (u.hostname === "") return "must name a host";
  return undefined;
}

/**
 * A source's configuration as it may be shown or logged: the token replaced by `"***"` (its
 * presence is still visible), everything else as configured.
 */
export function redactSourceConfig<T extends SourceConfig>(config: T): T {
  if (config.type === "git" && config.token !== undefined) return { ...config, token: "***" };
  return config;
}
