// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Search over a small corpus indexed by the real pipeline (API -> queue -> worker) with the real
 * default model: the expected document comes first, `score` is the cosine similarity of the query
 * and the chunk, and `k` and the filters are respected.
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
  const env = await createApiTestEnv({ model: "real" });
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
    const search = async (body: Record<string, unknown>) => {
      const res = await env.call("POST", "/api/v2/search", { token, body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.results as any[];
    };

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

    // score = cosine(query vector in query mode, chunk vector in document mode).
    const embedder = await env.rt.models.get("sentence-transformers/all-MiniLM-L6-v2");
    const [top] = await search({ query: "Which insects make honey?", k: 1 });
    const [q] = await embedder.embedTexts(["Which insects make honey?"], "query");
    const [d] = await embedder.embedTexts([top.text], "document");
    assert.ok(Math.abs(top.score - cosine(q!, d!)) < 1e-4, `${top.score} vs ${cosine(q!, d!)}`);
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
  } finally {
    await env.cleanup();
  }
});
