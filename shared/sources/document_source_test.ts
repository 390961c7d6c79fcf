import assert from "node:assert/strict";
import { diffEntries, type SourceEntry } from "./document_source.ts";
import { extractionName } from "./extract_entry.ts";

const file = (uri: string, changeToken: string): SourceEntry => ({
  kind: "file",
  uri,
  path: uri,
  changeToken,
  size: 1,
  mtimeMs: null,
  mimeType: null,
});

Deno.test("diffEntries() sorts a listing into added, modified, deleted and unchanged by uri and token", () => {
  const stored = new Map<string, string | null>([
    ["keep", "git:1"],
    ["edit", "git:2"],
    ["gone", "git:3"],
    ["was-problem", null],
    ["now-problem", "git:5"],
  ]);
  const changes = diffEntries(stored, [
    file("keep", "git:1"),
    file("edit", "git:22"),
    file("new", "git:4"),
    file("was-problem", "git:6"),
    { kind: "skipped", uri: "now-problem", path: "now-problem", reason: "too large" },
  ]);
  assert.deepEqual(changes, {
    added: ["new"],
    modified: ["edit", "was-problem", "now-problem"],
    deleted: ["gone"],
    unchanged: ["keep"],
  });
});

Deno.test("extractionName() lets a declared type decide where the path cannot", () => {
  assert.equal(extractionName({ path: "guide/", mimeType: "text/html" }), "page.html");
  assert.equal(extractionName({ path: "api", mimeType: "application/pdf" }), "document.pdf");
  assert.equal(extractionName({ path: "src/main.ts", mimeType: null }), "src/main.ts");
  assert.equal(extractionName({ path: "notes.md", mimeType: "application/unknown" }), "notes.md");
});
