// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Search over a small corpus indexed by the real pipeline (API -> queue -> worker) with the real
 * default model: the expected document comes first, in dense mode `score` is the cosine
 * similarity of the query and the chunk, `k` and the filters are respected; hybrid (the default)
 * and lexical modes answer the contract of docs/API.md (scores, highlights, page,
 * embedding_model), and collections of two models are searched together.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker } from "@semantik/worker";
import { waitFor } from "@semantik/shared/testing";
import { createApiTestEnv } from "./helpers/api_env.ts";

const CORPUS: Record<string, string> = {
  "animals/cats.md":
    "# Cats\n\nCats are small domesticated felines. They purr, sleep most of the day and hunt mice.",
  "animals/bees.md":
    "# Honeybees\n\nHoneybees collect nectar from flowers and turn it into honey inside their hive.",
  "finance/markets.txt":
    "The stock market fell sharply as investors sold technology shares and government bonds.",
  "science/photosynthesis.txt":
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose inside their leaves.",
  "science/volcanoes.txt":
    "Volcanoes erupt when molten rock, ash and gases escape from a magma chamber below the crust.",
  "db/copy.md":
    "COPY FROM takes the FORCE_NOT_NULL option: listed columns never match the null string.",
};

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
};

Deno.test("search returns the expected document first, scores are cosine similarity, k and filters hold", async () => {
  const env = await createApiTestEnv({ model: "real", alsoTiny: true });
  try {
    for (const [path, text] of Object.entries(CORPUS)) {
      await Deno.mkdir(join(env.docs, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(env.docs, path), text);
    }
    await startWorker(env.rt);
    const { token } = await env.user();
    const created = await env.call("POST", "/api/v2/collections", {
      token,
      body: { name: "corpus", source: { type: "directory", path: env.docs } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor("indexing", async () => {
      const op = await env.call("GET", `/api/v2/operations/${created.body.operation.id}`, {
        token,
      });
      return op.body.status === "completed";
    }, { timeoutMs: 180_000 });
    const docs = await Deno.realPath(env.docs);
    const searchIn = async (body: Record<string, unknown>) => {
      const res = await env.call("POST", "/api/v2/search", { token, body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.mode, body.mode ?? "hybrid");
      return res.body.results as any[];
    };
    // The cosine checks below are the dense mode's.
    const search = (body: Record<string, unknown>) => searchIn({ mode: "dense", ...body });

    const expectations: [string, string][] = [
      ["Which insects make honey?", "animals/bees.md"],
      ["How do plants use sunlight?", "science/photosynthesis.txt"],
      ["Why did share prices drop?", "finance/markets.txt"],
      ["What happens when a volcano erupts?", "science/volcanoes.txt"],
    ];
    for (const [query, path] of expectations) {
      const results = await search({ query });
      assert.equal(
        results[0].uri,
        join(docs, path),
        `${query} -> ${results.map((r) => r.uri).join(", ")}`,
      );
      for (let i = 1; i < results.length; i++) assert.ok(results[i - 1].score >= results[i].score);
    }

    // score = cosine(query vector in query mode, chunk vector in document mode), both at the
    // precision the collection's vectors were made with. int8 quantizes activations per batch,
    // so the chunk's stored vector (embedded beside others) and this one (alone) differ slightly.
    const embedder = await env.rt.models.get("sentence-transformers/all-MiniLM-L6-v2");
    const [top] = await search({ query: "Which insects make honey?", k: 1 });
    const [q] = await embedder.embedTexts(["Which insects make honey?"], "query");
    const [d] = await embedder.embedTexts([top.text], "document");
    const tolerance = embedder.precision === "fp32" ? 1e-4 : 0.03;
    assert.ok(
      Math.abs(top.score - cosine(q!, d!)) < tolerance,
      `${top.score} vs ${cosine(q!, d!)} (${embedder.precision})`,
    );
    assert.equal(top.text, CORPUS["animals/bees.md"]);
    assert.equal(top.chunk_index, 0);

    assert.equal((await search({ query: "animals", k: 2 })).length, 2);
    const inScience = await search({
      query: "honey",
      filters: { path_prefix: join(docs, "science") },
    });
    assert.ok(
      inScience.length > 0 && inScience.every((r) => r.uri.startsWith(join(docs, "science") + "/")),
    );
    const onlyCats = await search({
      query: "honey",
      filters: { document_ids: [inScience[0].document_id] },
    });
    assert.deepEqual([...new Set(onlyCats.map((r) => r.document_id))], [inScience[0].document_id]);
    const strict = await search({ query: "Which insects make honey?", score_threshold: 0.3 });
    assert.ok(strict.length >= 1 && strict.every((r) => r.score >= 0.3));
    assert.ok(strict.length < Object.keys(CORPUS).length);
    for (const r of strict) {
      assert.deepEqual(r.scores, { dense: r.score, lexical: null, fused: null, rerank: null });
      assert.equal(r.embedding_model, "sentence-transformers/all-MiniLM-L6-v2");
      assert.equal(r.page, null);
    }

    // Hybrid, the default: fused by reciprocal rank, each retriever's score beside it.
    const copy = join(docs, "db/copy.md");
    const hybrid = await searchIn({ query: "FORCE_NOT_NULL", k: 6 });
    assert.equal(hybrid[0].uri, copy, hybrid.map((r) => r.uri).join(", "));
    for (let i = 1; i < hybrid.length; i++) assert.ok(hybrid[i - 1].score >= hybrid[i].score);
    for (const r of hybrid) {
      assert.equal(r.score, r.scores.fused);
      assert.ok(r.scores.dense !== null || r.scores.lexical !== null);
    }
    // The identifier's chunk was ranked first by both retrievers: 2/(60 + 1).
    assert.ok(hybrid[0].scores.lexical > 0);
    assert.ok(Math.abs(hybrid[0].score - 2 / 61) < 1e-9, String(hybrid[0].score));
    // Another rrf_k changes the fused values.
    const k1 = await searchIn({ query: "FORCE_NOT_NULL", k: 1, rrf_k: 1 });
    assert.ok(Math.abs(k1[0].score - 2 / 2) < 1e-9);
    // Highlights are [start, end) spans of the query's terms in the text.
    const text: string = hybrid[0].text;
    assert.deepEqual(
      hybrid[0].highlights.map(([a, b]: [number, number]) => text.slice(a, b)),
      ["FORCE_NOT_NULL"],
    );
    const parts = await searchIn({ query: "null string", mode: "lexical" });
    assert.equal(parts[0].uri, copy);
    assert.deepEqual(
      parts[0].highlights.map(([a, b]: [number, number]) => parts[0].text.slice(a, b)),
      ["NULL", "null", "string"],
    );
    // Lexical: only chunks holding the terms, dense score null.
    const lexical = await searchIn({ query: "magma chamber", mode: "lexical" });
    assert.deepEqual(lexical.map((r) => r.uri), [join(docs, "science/volcanoes.txt")]);
    assert.deepEqual(lexical[0].scores, {
      dense: null,
      lexical: lexical[0].score,
      fused: null,
      rerank: null,
    });
    assert.deepEqual(await searchIn({ query: "kubernetes", mode: "lexical" }), []);

    // Input checks and the reranker without one configured.
    const call = (body: Record<string, unknown>) =>
      env.call("POST", "/api/v2/search", { token, body });
    for (
      const bad of [
        { query: "x", mode: "sparse" },
        { query: "x", rrf_k: 0 },
        { query: "x", rrf_k: 1001 },
        { query: "x", rrf_k: 1.5 },
        { query: "x", rerank: "yes" },
        { query: "x", mode: "lexical", score_threshold: 0.5 },
      ]
    ) {
      const res = await call(bad);
      assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "invalid_request");
    }
    const rerank = await call({ query: "honey", rerank: true });
    assert.equal(rerank.status, 422, JSON.stringify(rerank.body));
    assert.equal(rerank.body.error.code, "reranker_unavailable");

    // A second collection embedded with another model: searched together, fused by rank.
    const tinyDocs = join(env.docs, "..", "tiny-docs");
    await Deno.mkdir(tinyDocs, { recursive: true });
    await Deno.writeTextFile(join(tinyDocs, "queue.md"), "Workers claim jobs with SKIP LOCKED.");
    const tiny = await env.call("POST", "/api/v2/collections", {
      token,
      body: {
        name: "tiny",
        embedding_model: "test/tiny-bert",
        source: { type: "directory", path: tinyDocs },
      },
    });
    assert.equal(tiny.status, 201, JSON.stringify(tiny.body));
    await waitFor("indexing with the tiny model", async () => {
      const op = await env.call("GET", `/api/v2/operations/${tiny.body.operation.id}`, { token });
      return op.body.status === "completed";
    }, { timeoutMs: 120_000 });
    const ids = [created.body.collection.id, tiny.body.collection.id];
    for (const mode of ["hybrid", "dense"]) {
      const both = await searchIn({ query: "SKIP LOCKED queue", collection_ids: ids, k: 10, mode });
      const models = new Set(both.map((r) => r.embedding_model));
      assert.deepEqual(
        [...models].sort(),
        ["sentence-transformers/all-MiniLM-L6-v2", "test/tiny-bert"],
        `${mode}: ${JSON.stringify(both.map((r) => [r.uri, r.embedding_model]))}`,
      );
      // Two dense lists of incomparable models: fused by rank, each first one at 1/61.
      for (const r of both) assert.equal(r.score, r.scores.fused);
      if (mode === "dense") {
        assert.deepEqual(both.slice(0, 2).map((r) => r.score), [1 / 61, 1 / 61]);
      }
    }
    const exact = await searchIn({ query: "SKIP LOCKED", collection_ids: ids, k: 3 });
    assert.equal(exact[0].uri, join(await Deno.realPath(tinyDocs), "queue.md"));
  } finally {
    await env.cleanup();
  }
});
