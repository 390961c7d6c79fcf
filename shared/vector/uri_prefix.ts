/**
 * The uri prefix filter, defined once for both stores. A prefix selects a subtree of paths: the
 * uri equals the prefix or continues with `/` after it. Qdrant has no portable prefix match on
 * keywords (`match.prefix` exists only in the newest servers), so the Qdrant store stores every
 * ancestor of a uri ({@link uriAncestors}) and matches the prefix exactly against that list;
 * pgvector uses `uri = p or uri like p || '/%'`. The unit tests check that both agree.
 */

/**
 * Canonical form of a prefix: trailing slashes removed, except that a prefix made only of
 * slashes is the root `/`. Throws a `TypeError` for an empty prefix.
 */
export function normalizeUriPrefix(prefix: string): string {
  if (prefix === "") throw new TypeError("Invalid uriPrefix: it must not be empty");
  const trimmed = prefix.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

/**
 * Every normalized prefix that matches `uri`: the root `/` for an absolute uri, each position
 * before a `/`, and the uri itself, all in canonical form.
 */
export function uriAncestors(uri: string): string[] {
  const out = new Set<string>();
  if (uri.startsWith("/")) out.add("/");
  for (let i = uri.indexOf("/", 1); i > 0; i = uri.indexOf("/", i + 1)) {
    const head = uri.slice(0, i);
    if (!head.endsWith("/")) out.add(head);
  }
  const whole = uri.replace(/\/+$/, "");
  if (whole !== "") out.add(whole);
  return [...out];
}

/** The reference definition: whether `uri` lies under `prefix`. */
export function matchesUriPrefix(uri: string, prefix: string): boolean {
  const p = normalizeUriPrefix(prefix);
  if (p === "/") return uri.startsWith("/");
  return uri === p || uri.startsWith(p + "/");
}

/** Escapes `%`, `_` and `\` for a SQL `like` pattern with the default escape character. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, "\\$&");
}
