/** Path containment on whole components: `/data/docs2` is not inside `/data/docs`. */

/** Whether absolute, normalised `path` is `root` or lies below it. */
export function isPathWithin(path: string, root: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return path.startsWith(prefix);
}

/** Whether `path` lies within any of `roots`. */
export function isPathWithinAny(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => isPathWithin(path, root));
}
