/**
 * The fixture corpus through scan, extraction and chunking, as indexing runs them: every file
 * gives the right text or the right reason, and every document chunks within the model's
 * limit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { scanSource } from "../shared/extraction/scan_source.ts";
import { extractFile } from "../shared/extraction/extract_file.ts";
import type { ExtractedDocument } from "../shared/extraction/extract_bytes.ts";
import { ExtractionError } from "../shared/extraction/extraction_error.ts";
import { chunkDocument } from "../shared/chunking/chunk_document.ts";
import { writeFixtureCorpus } from "./fixtures/corpus.ts";
import { loadMiniLmTokenizer } from "./fixtures/minilm_tokenizer.ts";

interface Outcome {
  status: "completed" | "skipped" | "failed";
  uri: string;
  reason?: string;
  doc?: ExtractedDocument;
}

Deno.test("fixture corpus: scan and extraction give each file the expected text or reason", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "extraction_corpus_test_" });
  try {
    const corpus = await writeFixtureCorpus(dir, { maxFileSizeBytes: 64 * 1024 });
    const outcomes = new Map<string, Outcome>();
    for await (
      const entry of scanSource({ path: corpus.root }, {
        documentRoots: [corpus.root],
        maxFileSizeBytes: corpus.maxFileSizeBytes,
      })
    ) {
      assert.ok(!outcomes.has(entry.path), `${entry.path} reported twice`);
      if (entry.kind !== "file") {
        outcomes.set(entry.path, { status: entry.kind, uri: entry.uri, reason: entry.reason });
        continue;
      }
      try {
        const doc = await extractFile(entry.uri, {
          documentRoots: [corpus.root],
          maxBytes: corpus.maxFileSizeBytes,
        });
        outcomes.set(entry.path, { status: "completed", uri: entry.uri, doc });
      } catch (err) {
        if (!(err instanceof ExtractionError)) throw err;
        outcomes.set(entry.path, { status: err.status, uri: entry.uri, reason: err.reason });
      }
    }

    for (const file of corpus.files) {
      await t.step(`${file.path} (${file.description})`, () => {
        const outcome = outcomes.get(file.path);
        const { expected } = file;
        if (expected.status === "ignored") {
          assert.equal(outcome, undefined);
          return;
        }
        assert.ok(outcome, "not reported by the scan");
        assert.equal(outcome.status, expected.status, outcome.reason);
        assert.equal(outcome.uri, file.uri);
        if (expected.reason !== undefined) {
          assert.ok(outcome.reason?.includes(expected.reason), `reason: ${outcome.reason}`);
        }
        if (expected.status === "completed") {
          const doc = outcome.doc!;
          if (expected.mimeType) assert.equal(doc.mimeType, expected.mimeType);
          for (const s of expected.contains ?? []) assert.ok(doc.text.includes(s), `missing ${s}`);
          for (const s of expected.excludes ?? []) assert.ok(!doc.text.includes(s), `leaked ${s}`);
        }
      });
    }
    await t.step("nothing unexpected is reported", () => {
      const known = new Set(corpus.files.map((f) => f.path));
      assert.deepEqual([...outcomes.keys()].filter((p) => !known.has(p)), []);
      const count = (s: string) => [...outcomes.values()].filter((o) => o.status === s).length;
      assert.deepEqual(
        { completed: count("completed"), skipped: count("skipped"), failed: count("failed") },
        corpus.counts,
      );
    });
    await t.step("every query's expected document is a completed topic document", () => {
      for (const q of corpus.queries) {
        assert.equal(outcomes.get(q.expectedPath)?.status, "completed", q.query);
      }
    });

    const tokenizer = await loadMiniLmTokenizer();
    await t.step(
      "every completed document chunks within the model's limit, the same way twice",
      () => {
        for (const [path, outcome] of outcomes) {
          if (outcome.status !== "completed") continue;
          const doc = outcome.doc!;
          for (const [chunkSize, chunkOverlap] of [[200, 40], [32, 8]]) {
            const options = { chunkSize: chunkSize!, chunkOverlap: chunkOverlap!, tokenizer };
            const chunks = chunkDocument(doc, options);
            assert.ok(chunks.length > 0, path);
            for (const c of chunks) {
              assert.equal(c.text, doc.text.slice(c.startOffset, c.endOffset));
              assert.equal(c.tokenCount, tokenizer.countTokens(c.text));
              assert.ok(c.tokenCount <= chunkSize!, `${path}: ${c.tokenCount} tokens`);
              if (doc.pages) {
                const page = doc.pages.find((p) => p.page === c.page);
                assert.ok(page && c.startOffset >= page.start && c.endOffset <= page.end, path);
              } else {
                assert.equal(c.page, undefined);
              }
            }
            assert.deepEqual(chunkDocument(doc, options), chunks);
          }
        }
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fixture corpus: the PDF topic keeps its pages through chunking", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extraction_corpus_pdf_test_" });
  try {
    const corpus = await writeFixtureCorpus(dir, { hostile: false });
    const doc = await extractFile(join(corpus.root, "topics", "chess-openings.pdf"), {
      documentRoots: [corpus.root],
    });
    assert.deepEqual(doc.pages?.map((p) => p.page), [1, 2, 3]);
    const tokenizer = await loadMiniLmTokenizer();
    const chunks = chunkDocument(doc, { chunkSize: 200, chunkOverlap: 40, tokenizer });
    assert.deepEqual(chunks.map((c) => c.page), [1, 2, 3]);
    assert.ok(chunks[1]!.text.startsWith("The Ruy Lopez begins"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
