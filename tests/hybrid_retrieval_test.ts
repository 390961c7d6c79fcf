/**
 * The labelled query set of `fixtures/hybrid_corpus.ts` over both stores (pgvector on PGlite, the
 * Qdrant store on the Qdrant fake), embedded with the real default model: hits@3 per mode and
 * per kind of query is printed, and hybrid retrieval must find both kinds: the exact-term queries
 * that dense retrieval misses and the meaning queries that lexical retrieval misses.
 */
import assert from "node:assert/strict";
import { openPglite } from "../shared/db/pglite_driver.ts";
import { ModelRegistry } from "../shared/embedding/model_registry.ts";
import { testModelsDir } from "../shared/embedding/test_models_dir.ts";
import { configureLogging } from "../shared/log/logger.ts";
import { queryTerms, terms } from "../shared/vector/lexical.ts";
import { PgvectorStore } from "../shared/vector/pgvector_store.ts";
import { pointId } from "../shared/vector/point_id.ts";
import { QdrantStore } from "../shared/vector/qdrant_store.ts";
import type { VectorHit, VectorStore } from "../shared/vector/vector_store.ts";
import { startQdrantFake } from "./fakes/qdrant_fake.ts";
import { HYBRID_CORPUS, LABELLED_QUERIES } from "./fixtures/hybrid_corpus.ts";

configureLogging({ level: "error" });

const MODEL = "sentence-transformers/all-MiniLM-L6-v2";
const MODES = ["dense", "lexical", "hybrid"] as const;
type Mode = (typeof MODES)[number];

Deno.test("the labelled queries' design holds: meaning queries share no term with their document", () => {
  const byName = new Map(HYBRID_CORPUS.map((d) => [d.name, d]));
  for (const q of LABELLED_QUERIES) {
    const doc = byName.get(q.expected);
    assert.ok(doc, `${q.expected} is in the corpus`);
    const docTerms = new Set(terms(doc.text));
    const shared = queryTerms(q.query).filter((t) => docTerms.has(t));
    if (q.kind === "meaning") assert.deepEqual(shared, [], `${q.query} vs ${q.expected}`);
    else {
      // The identifier stands verbatim in the expected document only.
      const holders = HYBRID_CORPUS.filter((d) => d.text.includes(q.query));
      assert.deepEqual(holders.map((d) => d.name), [q.expected], q.query);
    }
  }
});

Deno.test("hybrid retrieval finds exact-term queries dense misses and meaning queries lexical misses", async () => {
  const registry = new ModelRegistry({ modelsDir: testModelsDir(), device: "cpu", thread: "main" });
  const db = await openPglite();
  const fake = await startQdrantFake();
  try {
    const model = await registry.get(MODEL);
    const docVectors = await model.embedTexts(HYBRID_CORPUS.map((d) => d.text), "document");
    const queryVectors = await model.embedTexts(LABELLED_QUERIES.map((q) => q.query), "query");
    const points = HYBRID_CORPUS.map((d, i) => ({
      id: pointId("hybrid", { uri: `/corpus/${d.name}`, ordinal: 0 }),
      vector: docVectors[i]!,
      payload: {
        collection_id: "hybrid",
        document_id: d.name,
        uri: `/corpus/${d.name}`,
        chunk_index: 0,
      },
      text: d.text,
    }));
    const stores: [string, VectorStore][] = [
      ["pgvector", new PgvectorStore(db)],
      ["qdrant", new QdrantStore({ url: fake.url })],
    ];
    for (const [storeName, store] of stores) {
      const name = "col_hybrid_corpus";
      await store.ensureCollection(name, docVectors[0]!.length);
      await store.upsert(name, points);
      const top3 = async (mode: Mode, i: number): Promise<string[]> => {
        const q = LABELLED_QUERIES[i]!;
        let hits: VectorHit[];
        if (mode === "dense") hits = await store.search(name, queryVectors[i]!, { k: 3 });
        else if (mode === "lexical") hits = await store.lexicalSearch(name, q.query, { k: 3 });
        else hits = await store.hybridSearch(name, queryVectors[i]!, q.query, { k: 3 });
        return hits.map((h) => h.payload.document_id);
      };
      const found: Record<Mode, Record<"exact" | "meaning", string[]>> = {
        dense: { exact: [], meaning: [] },
        lexical: { exact: [], meaning: [] },
        hybrid: { exact: [], meaning: [] },
      };
      const misses: string[] = [];
      for (const mode of MODES) {
        for (const [i, q] of LABELLED_QUERIES.entries()) {
          const got = await top3(mode, i);
          if (got.includes(q.expected)) found[mode][q.kind].push(q.query);
          else misses.push(`${mode} missed "${q.query}" (${q.expected}): ${got.join(", ")}`);
        }
      }
      const total = (kind: "exact" | "meaning") =>
        LABELLED_QUERIES.filter((q) => q.kind === kind).length;
      const rate = (mode: Mode, kind: "exact" | "meaning") =>
        found[mode][kind].length / total(kind);
      const report = MODES.map((m) =>
        `${m.padEnd(8)} exact ${found[m].exact.length}/${total("exact")}  ` +
        `meaning ${found[m].meaning.length}/${total("meaning")}`
      );
      console.log(`hits@3 on ${storeName}:\n  ${report.join("\n  ")}\n  ${misses.join("\n  ")}`);

      // Each retriever alone misses its kind; hybrid finds both: every exact-term query (some
      // of which dense misses) and most meaning queries (all of which lexical misses).
      assert.equal(rate("lexical", "exact"), 1);
      assert.equal(rate("lexical", "meaning"), 0);
      assert.equal(rate("hybrid", "exact"), 1);
      const rescued = found.hybrid.exact.filter((q) => !found.dense.exact.includes(q));
      assert.ok(rescued.length >= 1, "an exact-term query dense misses and hybrid finds");
      assert.ok(rate("hybrid", "meaning") >= 0.6, `hybrid meaning ${rate("hybrid", "meaning")}`);
    }
  } finally {
    await fake.close();
    await db.close();
    await registry.close();
  }
});
