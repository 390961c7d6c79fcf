import assert from "node:assert/strict";
import { checkLayout, checkSources, formatViolation, parseImports } from "./check_layout.ts";

const MEMBERS = {
  "@semantik/shared": "shared",
  "@semantik/api": "api",
  "@semantik/worker": "worker",
  "@semantik/scheduler": "scheduler",
};

const check = (files: Record<string, string>) =>
  checkSources(new Map(Object.entries(files)), MEMBERS).map((v) => `${v.file}:${v.line} ${v.rule}`);

Deno.test("the repository keeps its arrows: roles depend on shared only, shared on no role", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const violations = await checkLayout(root);
  assert.deepEqual(violations.map(formatViolation), []);
});

Deno.test("parseImports() finds static, type-only, re-export, side-effect and dynamic imports", () => {
  const src = [
    'import { a } from "./a.ts";', // 1
    'import type { B } from "../b.ts";', // 2
    "import {", // 3
    "  c,",
    "  type D,",
    '} from "@semantik/shared";', // 6
    'export * from "./e.ts";', // 7
    'export { f, type G } from "./f.ts";', // 8
    'export type { H } from "./h.ts";', // 9
    'import "./side.ts";', // 10
    'const m = await import("./dyn.ts");', // 11
    'import * as ns from "npm:zod";', // 12
    "import def, { x } from './single.ts';", // 13
  ].join("\n");
  assert.deepEqual(parseImports(src), [
    { line: 1, specifier: "./a.ts" },
    { line: 2, specifier: "../b.ts" },
    { line: 6, specifier: "@semantik/shared" },
    { line: 7, specifier: "./e.ts" },
    { line: 8, specifier: "./f.ts" },
    { line: 9, specifier: "./h.ts" },
    { line: 10, specifier: "./side.ts" },
    { line: 11, specifier: "./dyn.ts" },
    { line: 12, specifier: "npm:zod" },
    { line: 13, specifier: "./single.ts" },
  ]);
});

Deno.test("parseImports() skips what only looks like an import: comments, strings, regexes, exports", () => {
  const src = [
    '// import { a } from "../api/a.ts";',
    '/* import { b } from "../api/b.ts"; */',
    "const s = 'import { c } from \"../api/c.ts\";';",
    'const t = `import { d } from "../api/d.ts" ${"import"}`;',
    'const r = /import "x"/g.test(s) ? 1 : 2;',
    "export const from = 1;",
    "export function f() { return import.meta.url; }",
    "export { from as e };",
    'const url = import.meta.resolve("./not_a_dependency.ts");',
    'const mod = loader.import("./not_either.ts");',
    'import { real } from "./real.ts";',
  ].join("\n");
  assert.deepEqual(parseImports(src), [{ line: 11, specifier: "./real.ts" }]);
});

Deno.test("a role importing another role is reported, by relative path or by package", () => {
  assert.deepEqual(
    check({
      "worker/a.ts": 'import { x } from "../api/x.ts";',
      "api/b.ts": '\nimport type { Y } from "@semantik/worker";',
      "scheduler/c.ts": 'export * from "../worker/z.ts";',
    }),
    ["api/b.ts:2 role-to-role", "scheduler/c.ts:1 role-to-role", "worker/a.ts:1 role-to-role"],
  );
});

Deno.test("shared importing a role is reported", () => {
  assert.deepEqual(
    check({
      "shared/x/a.ts": 'import { b } from "../../worker/b.ts";',
      "shared/mod.ts": 'export * from "@semantik/api";',
    }),
    ["shared/mod.ts:1 shared-to-role", "shared/x/a.ts:1 shared-to-role"],
  );
});

Deno.test("a role reaching into shared/ by a relative path is reported; the package is not", () => {
  assert.deepEqual(
    check({
      "worker/a.ts": [
        'import { Db } from "../shared/db/db.ts";',
        'import { waitFor } from "@semantik/shared/testing";',
        'import { loadConfig } from "@semantik/shared";',
      ].join("\n"),
      "api/ws/b_test.ts": 'import { c } from "../../shared/c.ts";',
    }),
    ["api/ws/b_test.ts:1 deep-shared-import", "worker/a.ts:1 deep-shared-import"],
  );
});

Deno.test("library code importing tests/, bench/ or scripts/ is reported; its tests may", () => {
  assert.deepEqual(
    check({
      "shared/x/a.ts": 'import { f } from "../../tests/fixtures/f.ts";',
      "shared/x/a_test.ts": 'import { f } from "../../tests/fixtures/f.ts";',
      "api/b.ts": 'import { g } from "../bench/g.ts";',
    }),
    ["api/b.ts:1 library-imports-tooling", "shared/x/a.ts:1 library-imports-tooling"],
  );
});

Deno.test("tests, bench and scripts may import anything; in-room and npm imports are fine", () => {
  assert.deepEqual(
    check({
      "tests/a_test.ts": 'import { a } from "../api/a.ts";\nimport { b } from "../shared/b.ts";',
      "bench/b.ts": 'import { w } from "../worker/w.ts";\nimport { s } from "@semantik/scheduler";',
      "scripts/c.ts": 'import { x } from "@semantik/api";',
      "worker/d.ts": 'import { e } from "./indexing/e.ts";\nimport { Redis } from "ioredis";',
      "shared/e.ts": 'import { f } from "./f/f.ts";\nimport { z } from "npm:zod";',
    }),
    [],
  );
});
