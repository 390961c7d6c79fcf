/**
 * Documents for the chaos scenarios: enough plain-text files that an operation takes several
 * seconds with the tiny model (so a kill lands in its middle), plus two files indexing must skip
 * (an empty one and a binary one). {@link expectedIndex} says what an undisturbed run records:
 * each file goes through the same extraction and chunking functions the workers use, in the test
 * process, with no queue, worker, database or vector store involved.
 */
import { join } from "node:path";
import { chunkDocument } from "../../shared/chunking/chunk_document.ts";
import { ModelRegistry } from "../../shared/embedding/model_registry.ts";
import { TINY_MODEL_NAME } from "../../shared/embedding/testing.ts";
import { extractFile } from "../../shared/extraction/extract_file.ts";
import { ExtractionError } from "../../shared/extraction/extraction_error.ts";

const WORDS = (
  "river mountain engine garden harbour violin comet forest lantern meadow glacier orchard " +
  "canyon bridge castle desert island market signal thunder valley window anchor beacon " +
  "copper falcon granite horizon journey kettle ledger marble nectar oyster pepper quartz"
).split(" ");

/** Options of {@link writeChaosCorpus}. */
export interface ChaosCorpusOptions {
  /** Text files to write. */
  files: number;
  /** Paragraphs per file. @default {6} */
  paragraphs?: number;
  /** Seed of the word choice, so two corpora differ. @default {1} */
  seed?: number;
}

export interface ChaosCorpus {
  /** The directory holding the files: a source path. */
  dir: string;
  /** Files written, the two skipped ones included. */
  fileCount: number;
}

/** Writes the corpus into `dir` (created). */
export async function writeChaosCorpus(
  dir: string,
  options: ChaosCorpusOptions,
): Promise<ChaosCorpus> {
  const { files, paragraphs = 6, seed = 1 } = options;
  if (!Number.isInteger(files) || files < 1) {
    throw new RangeError(
      `Cannot write the chaos corpus: files must be a positive integer, got ${files}`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  let state = seed >>> 0 || 1;
  const next = () => (state = (state * 48271) % 2147483647);
  for (let i = 0; i < files; i++) {
    const text = Array.from({ length: paragraphs }, (_, p) => {
      const sentence = Array.from(
        { length: 24 + (next() % 24) },
        () => WORDS[next() % WORDS.length],
      )
        .join(" ");
      return `Document ${i} part ${p}: ${sentence}.`;
    }).join("\n\n");
    await Deno.writeTextFile(join(dir, `doc${String(i).padStart(4, "0")}.txt`), text);
  }
  await Deno.writeTextFile(join(dir, "empty.txt"), "");
  await Deno.writeFile(join(dir, "blob.bin"), new Uint8Array(4096).map((_, i) => (i * 7) % 256));
  return { dir, fileCount: files + 2 };
}

/** What an undisturbed indexing run of a directory records. */
export interface ExpectedIndex {
  documents: { completed: number; skipped: number; failed: number };
  chunks: number;
}

/** Options of {@link expectedIndex}. */
export interface ExpectedIndexOptions {
  /** MODELS_DIR holding the tiny model. */
  modelsDir: string;
  /** The collection's chunk size and overlap. @default {200, 40} (docs/API.md's defaults) */
  chunkSize?: number;
  chunkOverlap?: number;
}

/** Extracts and chunks every file of `dirs` (not recursive) as the workers do, and counts. */
export async function expectedIndex(
  dirs: string | readonly string[],
  options: ExpectedIndexOptions,
): Promise<ExpectedIndex> {
  const { modelsDir, chunkSize = 200, chunkOverlap = 40 } = options;
  const models = new ModelRegistry({ modelsDir, device: "cpu", thread: "main" });
  try {
    const tokenizer = await models.get(TINY_MODEL_NAME);
    const out: ExpectedIndex = { documents: { completed: 0, skipped: 0, failed: 0 }, chunks: 0 };
    for (const dir of typeof dirs === "string" ? [dirs] : dirs) {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile) continue;
        let chunks: number;
        try {
          const doc = await extractFile(join(dir, entry.name), { documentRoots: [dir] });
          chunks = chunkDocument(doc, { chunkSize, chunkOverlap, tokenizer }).length;
        } catch (err) {
          if (!(err instanceof ExtractionError)) throw err;
          out.documents[err.status]++;
          continue;
        }
        if (chunks === 0) {
          out.documents.skipped++;
        } else {
          out.documents.completed++;
          out.chunks += chunks;
        }
      }
    }
    return out;
  } finally {
    await models.close();
  }
}
