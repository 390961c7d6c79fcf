/**
 * `deno run -A scripts/check_layout.ts [root]`: checks the one-way arrows between the rooms of the
 * repository (docs/ARCHITECTURE.md, "Rooms") on its import graph, prints each violation as
 * `file:line: rule: message` and exits 1 when there is any.
 *
 * The graph: every `.ts`/`.tsx`/`.js`/`.mjs` file outside the excluded folders, and every static
 * `import`/`export ... from` (types included), side-effect `import "x"` and `import("x")` with a
 * literal specifier. Relative specifiers resolve to files; `@semantik/<member>[/<export>]` to the
 * workspace member of that name; every other bare specifier (npm:, node:, import-map names) is
 * outside the graph.
 *
 * The arrows:
 * - `role-to-role`: a role (api, worker, scheduler) never imports another role.
 * - `shared-to-role`: shared never imports a role.
 * - `deep-shared-import`: a role reaches shared only through `@semantik/shared` (or one of its
 *   `exports`), never a relative path into `shared/`.
 * - `library-imports-tooling`: code of shared and the roles, tests aside, never imports tests/,
 *   bench/ or scripts/.
 * tests/, bench/ and scripts/ may import anything.
 */
import { join, relative } from "node:path";

export type Room = "shared" | "api" | "worker" | "scheduler" | "tooling";

export const ROLES: readonly Room[] = ["api", "worker", "scheduler"];

/** One import found in a file: where, what it says, and the repository path or member it reaches. */
export interface ImportRef {
  line: number;
  specifier: string;
}

export interface Violation {
  file: string;
  line: number;
  rule: "role-to-role" | "shared-to-role" | "deep-shared-import" | "library-imports-tooling";
  specifier: string;
  message: string;
}

/** The room of a repository-relative path: its first folder when that is a room, else tooling. */
export function roomOf(path: string): Room {
  const top = path.split("/")[0];
  return top === "shared" || top === "api" || top === "worker" || top === "scheduler"
    ? top
    : "tooling";
}

const isTestFile = (path: string) => /(^|\/)([^/]*_test\.tsx?|_[^/]*\.tsx?)$/.test(path);

/**
 * The import specifiers of a source text with their 1-based lines. Comments, strings, template
 * literals and regular expressions are skipped, so text that only looks like an import is not one.
 */
export function parseImports(source: string): ImportRef[] {
  const tokens = tokenize(source);
  const out: ImportRef[] = [];
  const str = (i: number) => tokens[i]?.kind === "string" ? tokens[i] : undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "word" || (t.text !== "import" && t.text !== "export")) continue;
    const prev = tokens[i - 1];
    if (prev && prev.kind === "punct" && prev.text === ".") continue; // x.import
    const next = tokens[i + 1];
    if (!next) break;
    if (t.text === "import") {
      if (next.kind === "punct" && next.text === ".") continue; // import.meta
      if (next.kind === "punct" && next.text === "(") {
        const s = str(i + 2);
        const close = tokens[i + 3];
        if (s && close?.kind === "punct" && (close.text === ")" || close.text === ",")) {
          out.push({ line: s.line, specifier: s.text });
        }
        continue;
      }
      if (next.kind === "string") {
        out.push({ line: next.line, specifier: next.text });
        continue;
      }
    } else if (
      !(next.kind === "punct" && (next.text === "*" || next.text === "{")) &&
      !(next.kind === "word" && next.text === "type")
    ) {
      continue; // export const/function/class/default ...
    }
    // import <bindings> from "x" / export <bindings> from "x": bindings are words, braces, commas, *.
    let depth = 0;
    for (let j = i + 1; j < tokens.length; j++) {
      const u = tokens[j]!;
      if (u.kind === "punct") {
        if (u.text === "{") depth++;
        else if (u.text === "}") depth--;
        else if (u.text === ";" && depth === 0) break;
        else if (u.text !== "," && u.text !== "*") break;
        continue;
      }
      if (u.kind === "string") break;
      if (u.text === "from" && depth === 0) {
        const s = str(j + 1);
        if (s) out.push({ line: s.line, specifier: s.text });
        break;
      }
    }
  }
  return out;
}

interface Token {
  kind: "word" | "punct" | "string";
  text: string;
  line: number;
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const n = src.length;
  const regexAllowed = () => {
    const p = tokens[tokens.length - 1];
    if (!p) return true;
    if (p.kind === "string") return false;
    if (p.kind === "word") {
      return /^(return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await)$/.test(p.text);
    }
    return !(p.text === ")" || p.text === "]" || p.text === "}");
  };
  while (i < n) {
    const c = src[i]!;
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") {
      i++;
    } else if (c === "/" && src[i + 1] === "/") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === "\n") line++;
      i = stop;
    } else if (c === '"' || c === "'") {
      const start = line;
      let text = "";
      i++;
      while (i < n && src[i] !== c && src[i] !== "\n") {
        if (src[i] === "\\") {
          text += src[i + 1] ?? "";
          i += 2;
        } else text += src[i++];
      }
      i++;
      tokens.push({ kind: "string", text, line: start });
    } else if (c === "`") {
      i = skipTemplate(src, i, () => line++);
      tokens.push({ kind: "punct", text: "`", line });
    } else if (c === "/" && regexAllowed()) {
      let inClass = false;
      i++;
      while (i < n && src[i] !== "\n") {
        const d = src[i]!;
        if (d === "\\") i += 2;
        else if (d === "[") (inClass = true, i++);
        else if (d === "]") (inClass = false, i++);
        else if (d === "/" && !inClass) break;
        else i++;
      }
      i++;
      while (i < n && /[a-z]/i.test(src[i]!)) i++;
      tokens.push({ kind: "punct", text: "/re/", line });
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < n && /[\w$]/.test(src[j]!)) j++;
      tokens.push({ kind: "word", text: src.slice(i, j), line });
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[\w.]/.test(src[j]!)) j++;
      tokens.push({ kind: "word", text: src.slice(i, j), line });
      i = j;
    } else {
      tokens.push({ kind: "punct", text: c, line });
      i++;
    }
  }
  return tokens;
}

/** Index after the template literal starting at `start`; `${...}` may hold strings and templates. */
function skipTemplate(src: string, start: number, newline: () => void): number {
  let i = start + 1;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\\") i += 2;
    else if (c === "`") return i + 1;
    else if (c === "$" && src[i + 1] === "{") {
      let depth = 1;
      i += 2;
      while (i < src.length && depth > 0) {
        const d = src[i]!;
        if (d === "{") depth++;
        else if (d === "}") depth--;
        else if (d === "`") {
          i = skipTemplate(src, i, newline);
          continue;
        } else if (d === '"' || d === "'") {
          i++;
          while (i < src.length && src[i] !== d && src[i] !== "\n") i += src[i] === "\\" ? 2 : 1;
        } else if (d === "\n") newline();
        i++;
      }
    } else {
      if (c === "\n") newline();
      i++;
    }
  }
  return i;
}

/** Resolves a relative path against a file's folder, repository-relative ("" when it leaves it). */
function resolveRelative(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of specifier.split("/")) {
    if (seg === "." || seg === "") continue;
    if (seg === "..") {
      if (parts.length === 0) return "";
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

/**
 * The violations of a set of files. `files` maps repository-relative paths to their source;
 * `members` maps workspace member names (`@semantik/shared`) to their folder (`shared`).
 */
export function checkSources(
  files: ReadonlyMap<string, string>,
  members: Readonly<Record<string, string>>,
): Violation[] {
  const out: Violation[] = [];
  for (const [file, source] of files) {
    const from = roomOf(file);
    if (from === "tooling") continue;
    for (const ref of parseImports(source)) {
      const spec = ref.specifier;
      let to: Room;
      let relativePath = false;
      if (spec.startsWith("./") || spec.startsWith("../")) {
        to = roomOf(resolveRelative(file, spec));
        relativePath = true;
      } else {
        const member = Object.keys(members).find((m) => spec === m || spec.startsWith(`${m}/`));
        if (member === undefined) continue;
        to = roomOf(members[member]!);
      }
      const v = (rule: Violation["rule"], message: string) =>
        out.push({ file, line: ref.line, rule, specifier: spec, message });
      if (to === from) continue;
      if (to === "tooling") {
        if (!isTestFile(file)) {
          v("library-imports-tooling", `${from} code imports tests/bench/scripts code`);
        }
      } else if (from === "shared") {
        v("shared-to-role", `shared imports the ${to} role; shared never depends on a role`);
      } else if (to !== "shared") {
        v("role-to-role", `the ${from} role imports the ${to} role; roles depend only on shared`);
      } else if (relativePath) {
        v("deep-shared-import", `the ${from} role reaches into shared/; import "@semantik/shared"`);
      }
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

const SOURCE = /\.(ts|tsx|js|mjs|mts)$/;

/** Reads the repository at `root`: its source files and its workspace members. */
export async function readRepository(
  root: string,
): Promise<{ files: Map<string, string>; members: Record<string, string> }> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const excluded = new Set<string>(
    [".git", "node_modules", ...(config.exclude ?? [])].map((e: string) => e.replace(/\/$/, "")),
  );
  const members: Record<string, string> = {};
  for (const m of config.workspace ?? []) {
    const dir = relative(".", m);
    const member = JSON.parse(await Deno.readTextFile(join(root, dir, "deno.json")));
    if (member.name) members[member.name] = dir;
  }
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(root, dir))) {
      const path = dir ? `${dir}/${e.name}` : e.name;
      if (excluded.has(path)) continue;
      if (e.isDirectory) await walk(path);
      else if (e.isFile && SOURCE.test(e.name)) {
        files.set(path, await Deno.readTextFile(join(root, path)));
      }
    }
  };
  await walk("");
  return { files, members };
}

/** The violations of the repository at `root`. */
export async function checkLayout(root: string): Promise<Violation[]> {
  const { files, members } = await readRepository(root);
  return checkSources(files, members);
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: ${v.rule}: ${v.message} ("${v.specifier}")`;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? new URL("..", import.meta.url).pathname;
  const violations = await checkLayout(root);
  for (const v of violations) console.error(formatViolation(v));
  if (violations.length > 0) {
    console.error(`${violations.length} layout violation(s); see docs/ARCHITECTURE.md, "Rooms"`);
    Deno.exit(1);
  }
  console.log("layout: roles depend on shared only, shared on no role");
}
