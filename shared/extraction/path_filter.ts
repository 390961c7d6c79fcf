/**
 * A source's include and exclude globs (picomatch), relative to the source root, with
 * gitignore's reading of them: a pattern without a slash matches a name at any depth (`*.md`,
 * `node_modules`), one with a slash is anchored at the root (`docs/*.md`), a leading `/`
 * anchors a bare name (`/build`), and an excluded directory excludes all below it. Exclude
 * wins over include.
 */
import picomatch from "picomatch";

export interface PathFilterOptions {
  /**
   * Files to take; a file must match one.
   * @default {[]} (every file)
   */
  include?: readonly string[];
  /**
   * Files and directories to leave out; wins over `include`.
   * @default {[]}
   */
  exclude?: readonly string[];
}

export interface PathFilter {
  /** Whether a file at this relative path (`/`-separated) is taken. */
  includesFile(relativePath: string): boolean;
  /** Whether a directory at this relative path is left out with everything below it. */
  excludesDirectory(relativePath: string): boolean;
}

type Matcher = (path: string) => boolean;

/** @throws {TypeError} when a pattern is not a string. */
export function createPathFilter(options: PathFilterOptions = {}): PathFilter {
  const include = compile(options.include ?? [], "include");
  const exclude = compile(options.exclude ?? [], "exclude");
  const excluded = (path: string) => exclude.some((m) => m(path));
  return {
    includesFile(relativePath) {
      const parts = relativePath.split("/");
      for (let i = 1; i < parts.length; i++) {
        if (excluded(parts.slice(0, i).join("/"))) return false;
      }
      if (excluded(relativePath)) return false;
      return include.length === 0 || include.some((m) => m(relativePath));
    },
    excludesDirectory(relativePath) {
      return excluded(relativePath);
    },
  };
}

function compile(patterns: readonly string[], what: string): Matcher[] {
  if (!Array.isArray(patterns)) {
    throw new TypeError(`Cannot filter paths: ${what} must be an array of globs`);
  }
  const matchers: Matcher[] = [];
  for (const raw of patterns) {
    if (typeof raw !== "string") {
      throw new TypeError(`Cannot filter paths: ${what} globs must be strings, got ${typeof raw}`);
    }
    let pattern = raw.trim().replace(/^\.\//, "").replace(/\/+$/, "");
    const anchored = pattern.startsWith("/");
    pattern = pattern.replace(/^\/+/, "");
    if (pattern === "") continue;
    // Hidden files are the scanner's call (includeHidden), not the globs'.
    matchers.push(picomatch(pattern, { dot: true, basename: !anchored && !pattern.includes("/") }));
  }
  return matchers;
}
