/**
 * The known-answer gate of a model's precisions (`deno task model --check`): the float32 graph
 * must give the published answers of all-MiniLM-L6-v2, and every other precision must stay close
 * to float32 where it matters: each reference pair's cosine within {@link PAIR_TOLERANCE} of
 * float32's, each text's vector nearly the same direction, and the fixture retrieval set ranking
 * the same document first for every query.
 */
import { TOPICS } from "./known_answer_topics.ts";
import type { Embedder } from "./embedder.ts";
import type { Precision } from "./precision.ts";

/** The reference pairs: the model card's example, one similar and two unrelated pairs. */
export const REFERENCE_PAIRS: readonly (readonly [string, string])[] = [
  ["A man is eating food.", "A man is eating a piece of bread."],
  ["A man is eating food.", "The stock market crashed today."],
  ["A man is eating a piece of bread.", "The stock market crashed today."],
];
/**
 * More pairs, reported but not gated: int8 with per-tensor activation quantization moves some
 * of these by up to about 0.02 (bench/README.md).
 */
export const EXTRA_PAIRS: readonly (readonly [string, string])[] = [
  ["A woman is playing the violin.", "A woman plays a stringed instrument."],
  ["The cat sleeps on the sofa.", "A kitten naps on the couch."],
  ["The cat sleeps on the sofa.", "Interest rates rose again this quarter."],
  ["How do I reset my password?", "I forgot my login credentials and cannot sign in."],
  ["The train to Paris leaves at noon.", "Photosynthesis turns light into chemical energy."],
];
/** Most a pair's cosine may move from float32's. */
export const PAIR_TOLERANCE = 0.01;
/** Least cosine between a text's vector at a precision and its float32 vector. */
export const MIN_SELF_COSINE = 0.98;

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** The float32 answers (sentence-transformers' published similarity of food and bread). */
export function checkFloat32Answers(pairs: readonly number[]): string[] {
  const [similar, unrelatedA, unrelatedB] = pairs;
  const failures: string[] = [];
  if (similar === undefined || Math.abs(similar - 0.755) > 0.005) {
    failures.push(`cos(food, bread) = ${similar}, expected 0.755 ± 0.005`);
  }
  for (const u of [unrelatedA, unrelatedB]) {
    if (u === undefined || u >= 0.05) failures.push(`an unrelated pair has cosine ${u} (≥ 0.05)`);
  }
  return failures;
}

export interface PrecisionReport {
  precision: Precision;
  /** Each reference pair's cosine. */
  pairs: number[];
  /** Largest |pair cosine − float32's| over the reference pairs (gated). */
  max_pair_difference: number;
  /** The same over {@link EXTRA_PAIRS} (reported only). */
  max_extra_pair_difference: number;
  /** Least cosine between a text's vector and its float32 vector. */
  min_self_cosine: number;
  /** Queries of the retrieval set whose first document (a topic) differs from float32's. */
  retrieval_mismatches: string[];
  failures: string[];
}

interface Answers {
  pairVectors: Float32Array[];
  pairs: number[];
  top: string[];
  queries: string[];
}

async function answers(embedder: Embedder): Promise<Answers> {
  const all = [...REFERENCE_PAIRS, ...EXTRA_PAIRS];
  // One text at a time, so no precision's answer depends on its batch neighbours.
  const pairVectors: Float32Array[] = [];
  for (const s of all.flat()) pairVectors.push((await embedder.embedTexts([s], "document"))[0]!);
  const pairs = all.map((_, i) => cosine(pairVectors[2 * i]!, pairVectors[2 * i + 1]!));
  // Each topic is a document of three paragraphs (chunks); a query ranks documents by their
  // best chunk, as search does.
  const chunks = TOPICS.flatMap((t) => t.paragraphs.map((p) => ({ doc: t.slug, p })));
  const chunkVectors = await embedder.embedTexts(chunks.map((c) => c.p), "document");
  const queries = TOPICS.map((t) => t.query);
  const queryVectors = await embedder.embedTexts(queries, "query");
  const top = queryVectors.map((q) => {
    let best = -Infinity, doc = "";
    chunks.forEach((c, i) => {
      const score = cosine(q, chunkVectors[i]!);
      if (score > best) [best, doc] = [score, c.doc];
    });
    return doc;
  });
  return { pairVectors, pairs, top, queries };
}

/**
 * Checks `embedders` (one per precision, float32 first) against float32 and the published
 * answers; a report per precision, `failures` empty when it passes.
 */
export async function checkPrecisions(
  fp32: Embedder,
  others: readonly Embedder[],
): Promise<PrecisionReport[]> {
  if (fp32.precision !== "fp32") {
    throw new RangeError(
      `Cannot check precisions: the reference must be fp32, got ${fp32.precision}`,
    );
  }
  const reference = await answers(fp32);
  const reports: PrecisionReport[] = [{
    precision: "fp32",
    pairs: reference.pairs,
    max_pair_difference: 0,
    max_extra_pair_difference: 0,
    min_self_cosine: 1,
    retrieval_mismatches: [],
    failures: checkFloat32Answers(reference.pairs),
  }];
  for (const embedder of others) {
    const got = await answers(embedder);
    const differences = got.pairs.map((c, i) => Math.abs(c - reference.pairs[i]!));
    const selfCosines = got.pairVectors.map((v, i) => cosine(v, reference.pairVectors[i]!));
    const mismatches = got.top.flatMap((id, i) =>
      id === reference.top[i] ? [] : [`${got.queries[i]} → ${id}, fp32 ${reference.top[i]}`]
    );
    const failures: string[] = [];
    const gated = REFERENCE_PAIRS.length;
    differences.slice(0, gated).forEach((d, i) => {
      if (d > PAIR_TOLERANCE) {
        failures.push(
          `pair ${i} (${REFERENCE_PAIRS[i]!.join(" | ")}): cosine ${got.pairs[i]} vs fp32 ${
            reference.pairs[i]
          }`,
        );
      }
    });
    const minSelf = Math.min(...selfCosines);
    if (minSelf < MIN_SELF_COSINE) {
      failures.push(`a vector's cosine to its fp32 vector is ${minSelf} (< ${MIN_SELF_COSINE})`);
    }
    failures.push(...mismatches.map((m) => `retrieval differs: ${m}`));
    reports.push({
      precision: embedder.precision,
      pairs: got.pairs,
      max_pair_difference: Math.max(...differences.slice(0, gated)),
      max_extra_pair_difference: Math.max(...differences.slice(gated)),
      min_self_cosine: minSelf,
      retrieval_mismatches: mismatches,
      failures,
    });
  }
  return reports;
}
