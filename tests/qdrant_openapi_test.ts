/**
 * Holds the Qdrant store and the Qdrant fake to Qdrant's published API: every request the store
 * sends (bodies and query parameters) and every JSON answer the fake gives, in a run that uses
 * every store call (dense, lexical and hybrid searches included, and error answers), is written
 * into a TypeScript file as a literal typed with the OpenAPI types that ship in
 * `@qdrant/js-client-rest` (`generated_schema.d.ts`, generated from Qdrant's spec), and
 * type-checked there: a field the spec does not know, a wrong type or a missing member fails the
 * check. A request known to break the spec shows that the check can fail.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { configureLogging } from "../shared/log/logger.ts";
import { pointId } from "../shared/vector/point_id.ts";
import { QdrantStore } from "../shared/vector/qdrant_store.ts";
import { QdrantClient } from "@qdrant/js-client-rest";
import { type RecordedRequest, startQdrantFake } from "./fakes/qdrant_fake.ts";

configureLogging({ level: "error" });

const ROOT = join(fileURLToPath(import.meta.url), "..", "..");
const SCHEMA = join(
  ROOT,
  "node_modules/@qdrant/js-client-rest/dist/types/openapi/generated_schema.d.ts",
);

/** The spec's path templates with their methods, read from the generated `paths` interface. */
async function pathTemplates(): Promise<{ template: string; methods: string[]; re: RegExp }[]> {
  const text = await Deno.readTextFile(SCHEMA);
  const start = text.indexOf("export interface paths {");
  const end = text.indexOf("export type webhooks");
  assert.ok(start >= 0 && end > start, "generated_schema.d.ts has a paths interface");
  const out: { template: string; methods: string[]; re: RegExp }[] = [];
  const block = text.slice(start, end);
  const re = /^ {4}"(\/[^"]*)": \{\n([\s\S]*?)^ {4}\};/gm;
  for (const m of block.matchAll(re)) {
    const methods = [...m[2]!.matchAll(/^ {8}(get|put|post|delete|patch): /gm)].map((x) => x[1]!);
    const pattern = m[1]!.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+");
    out.push({ template: m[1]!, methods, re: new RegExp(`^${pattern}$`) });
  }
  return out;
}

/** The spec's template for a request path: literal segments beat parameters. */
function templateFor(
  templates: { template: string; methods: string[]; re: RegExp }[],
  r: RecordedRequest,
): string | undefined {
  const method = r.method.toLowerCase();
  const matches = templates.filter((t) => t.re.test(r.path) && t.methods.includes(method));
  matches.sort((a, b) => a.template.split("{").length - b.template.split("{").length);
  return matches[0]?.template;
}

/** Query parameters as the spec types them (booleans and numbers travel as text). */
function typedQuery(query: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(query).map(([k, v]) => [
      k,
      v === "true" ? true : v === "false" ? false : /^\d+$/.test(v) ? Number(v) : v,
    ]),
  );
}

const PRELUDE = `
import type { paths } from ${JSON.stringify(SCHEMA)};
type Op<P extends keyof paths, M extends keyof paths[P]> = NonNullable<paths[P][M]>;
type Body<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B
  : never;
type Query<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type Answer<O, S> = O extends { responses: infer R }
  ? S extends keyof R ? R[S] : "4XX" extends keyof R ? R["4XX"] : "default" extends keyof R ? R["default"] : never
  : never;
type AnswerBody<O, S> = Answer<O, S> extends { content: { "application/json": infer B } } ? B
  : never;
`;

/** A TypeScript module asserting each exchange against the spec's types. */
function conformanceModule(
  templates: { template: string; methods: string[]; re: RegExp }[],
  exchanges: RecordedRequest[],
): { source: string; unmatched: string[] } {
  const lines = [PRELUDE];
  const unmatched: string[] = [];
  exchanges.forEach((r, i) => {
    const template = templateFor(templates, r);
    if (!template) {
      unmatched.push(`${r.method} ${r.path}`);
      return;
    }
    const op = `Op<${JSON.stringify(template)}, ${JSON.stringify(r.method.toLowerCase())}>`;
    lines.push(`// ${i}: ${r.method} ${r.path}`);
    if (r.body !== undefined) {
      lines.push(`export const request${i}: Body<${op}> = ${JSON.stringify(r.body)};`);
    }
    if (Object.keys(r.query).length > 0) {
      lines.push(`export const query${i}: Query<${op}> = ${JSON.stringify(typedQuery(r.query))};`);
    }
    if (r.response !== undefined) {
      const status = r.status === 200 ? "200" : `${r.status}`;
      lines.push(
        `export const answer${i}: AnswerBody<${op}, ${status}> = ${JSON.stringify(r.response)};`,
      );
    }
  });
  return { source: lines.join("\n") + "\n", unmatched };
}

/** `deno check` on the module; the diagnostics when it fails. */
async function typeCheck(source: string): Promise<{ ok: boolean; output: string }> {
  const dir = await Deno.makeTempDir({ dir: join(ROOT, "tests"), prefix: ".qdrant_openapi_" });
  try {
    const file = join(dir, "conformance.ts");
    await Deno.writeTextFile(file, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", join(ROOT, "deno.json"), file],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return {
      ok: out.success,
      output: dec.decode(out.stdout) + dec.decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs every store call against the fake, including ones the fake answers with errors. */
async function exercise(url: string): Promise<void> {
  const store = new QdrantStore({ url, retry: { maxAttempts: 1 } });
  const name = "col_openapi_1";
  const alias = "col_openapi";
  await store.ready();
  await store.ensureCollection(name, 4);
  await store.ensureCollection(name, 4);
  const points = ["FORCE_NOT_NULL in COPY", "pg_notify wakes LISTEN", "SKIP LOCKED queues", ""]
    .map((text, i) => ({
      id: pointId("c", { uri: `/d/${i}.txt`, ordinal: i }),
      vector: [1, i, i * i, 1],
      payload: { collection_id: "c", document_id: `doc-${i}`, uri: `/d/${i}.txt`, chunk_index: i },
      text,
    }));
  await store.upsert(name, points);
  await store.search(name, [1, 2, 3, 4], { k: 3, scoreThreshold: 0.1, uriPrefix: "/d" });
  await store.lexicalSearch(name, "pg_notify", { k: 3, documentIds: ["doc-1", "doc-2"] });
  await store.hybridSearch(name, [1, 2, 3, 4], "SKIP LOCKED", { k: 2, rrfK: 60, depth: 10 });
  await store.count(name);
  // A bulk load: created with the HNSW graph deferred, then turned on.
  const bulk = "col_openapi_bulk_1";
  await store.ensureCollection(bulk, 4, { bulkLoad: true });
  await store.upsert(bulk, points);
  await store.finishBulkLoad(bulk);
  await store.drop(bulk);
  // The lexical backfill: in place, and on a collection made without the sparse vector.
  const texts = points.map((p) => ({ id: p.id, text: p.text }));
  await store.setLexical(name, texts);
  const legacy = "col_openapi_legacy_1";
  await new QdrantClient({ url, checkCompatibility: false })
    .createCollection(legacy, { vectors: { size: 4, distance: "Cosine" } });
  await store.upsert(legacy, points);
  await store.setLexical(legacy, [...texts, {
    id: pointId("c", { uri: "/gone.txt", ordinal: 9 }),
    text: "gone",
  }]);
  await store.drop(legacy);
  await store.setAlias(alias, name);
  await store.resolveAlias(alias);
  await store.hybridSearch(alias, [1, 0, 0, 0], "FORCE_NOT_NULL", { k: 3, uriPrefix: "/d" });
  await store.deleteByIds(name, [points[0]!.id]);
  await store.deleteByDocument(name, ["doc-1"]);
  // Error answers: a dimension mismatch (400) and a missing collection (404).
  await assert.rejects(store.search(name, [1, 2], { k: 1 }));
  assert.deepEqual(await store.lexicalSearch("col_missing", "x", { k: 1 }), []);
  await assert.rejects(store.upsert("col_missing", points.slice(0, 1)));
  await store.deleteAlias(alias);
  await store.drop(name);
}

Deno.test("every Qdrant request the store sends and every answer the fake gives fit Qdrant's OpenAPI types", async () => {
  const templates = await pathTemplates();
  assert.ok(templates.length > 40, `read ${templates.length} path templates`);
  await using fake = await startQdrantFake();
  await exercise(fake.url);
  const exchanges = fake.requests;
  const calls = new Set(exchanges.map((r) => `${r.method} ${templateFor(templates, r)}`));
  for (
    const expected of [
      "PUT /collections/{collection_name}",
      "PUT /collections/{collection_name}/points",
      "POST /collections/{collection_name}/points/query",
      "POST /collections/{collection_name}/points/query/batch",
      "POST /collections/{collection_name}/points/delete",
      "POST /collections/{collection_name}/points/count",
      "PUT /collections/{collection_name}/index",
      "PUT /collections/{collection_name}/points/vectors",
      "PUT /collections/{collection_name}/vectors/{vector_name}",
      "POST /collections/{collection_name}/points",
      "POST /collections/aliases",
    ]
  ) assert.ok(calls.has(expected), `the run covers ${expected}: ${[...calls].join(", ")}`);
  assert.ok(exchanges.some((r) => r.status === 400) && exchanges.some((r) => r.status === 404));
  const { source, unmatched } = conformanceModule(templates, exchanges);
  assert.deepEqual(unmatched, [], "every request has a path in the spec");
  const checked = await typeCheck(source);
  assert.ok(checked.ok, `exchanges that do not fit Qdrant's types:\n${checked.output}`);
});

Deno.test("the OpenAPI check fails a request or an answer that breaks Qdrant's types", async () => {
  const templates = await pathTemplates();
  const bad: RecordedRequest[] = [
    {
      // A misspelt prefetch field.
      method: "POST",
      path: "/collections/c/points/query",
      query: {},
      body: { prefetch: [{ query: [1, 2], limt: 5 }], query: { fusion: "rrf" } },
    },
    {
      // A sparse vector config with a modifier Qdrant does not have.
      method: "PUT",
      path: "/collections/c",
      query: {},
      body: {
        vectors: { size: 4, distance: "Cosine" },
        sparse_vectors: { bm25: { modifier: "bm25" } },
      },
    },
    {
      // A scored point without its score.
      method: "POST",
      path: "/collections/c/points/query",
      query: {},
      body: { query: [1, 2] },
      status: 200,
      response: { result: { points: [{ id: 1, version: 0 }] }, status: "ok", time: 0 },
    },
  ];
  for (const r of bad) {
    const { source } = conformanceModule(templates, [r]);
    const checked = await typeCheck(source);
    assert.equal(checked.ok, false, `should not fit: ${JSON.stringify(r)}`);
  }
});
