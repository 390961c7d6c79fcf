/**
 * The lexical backfill (a `reindex` operation with `config.lexical_only: true`): writes the
 * lexical index of a collection's existing points from the chunk text Postgres holds, without
 * re-extracting, re-chunking or re-embedding anything. Collections indexed before hybrid search
 * have points without terms (pgvector: an empty `lexical_terms`; Qdrant: no sparse vector, and
 * perhaps no sparse vector config, which the store creates); the stores' `setLexical` rewrites
 * only that part of each point, never its dense vector or payload.
 *
 * It pages the current generation's chunk rows by id, so a retried attempt simply writes the same
 * terms again (idempotent), and reports `Lexical index: N of M chunks` as it goes. When every page
 * is written it sets the collection's `lexical_ready`, which makes searches use its lexical list
 * again (until then hybrid searches use its dense list alone; see api/search).
 */
import { z } from "zod";
import type { Queryable } from "@semantik/shared";
import {
  type IndexingDeps,
  loadIndexedCollection,
  type OperationReporter,
  type OperationRun,
} from "./indexed_collection.ts";
import { ensureVectorTarget } from "./vector_target.ts";

/** A reindex operation's config that asks for the lexical backfill only. */
export const lexicalOnlyConfigSchema = z.object({ lexical_only: z.literal(true) });

/** Whether a reindex operation's config asks for the lexical backfill only. */
export function isLexicalOnly(config: Record<string, unknown>): boolean {
  return lexicalOnlyConfigSchema.safeParse(config).success;
}

/** Options of {@link backfillLexical}. */
export interface LexicalBackfillOptions {
  /** Chunks read and written per page. @default {500} */
  pageSize?: number;
}

export interface LexicalBackfillSummary extends Record<string, number> {
  documents_total: number;
  documents_processed: number;
  documents_failed: number;
  documents_skipped: number;
  chunks_created: number;
  /** Chunk rows of the current generation. */
  chunks_total: number;
  /** Chunks whose points got their lexical terms. */
  chunks_backfilled: number;
}

/** Marks the collection's lexical index complete. */
export async function markLexicalReady(db: Queryable, collectionId: string): Promise<void> {
  await db.query(
    "update collections set lexical_ready = true, updated_at = now() where id = $1",
    [collectionId],
  );
}

export async function backfillLexical(
  deps: IndexingDeps,
  options: OperationRun<OperationReporter> & LexicalBackfillOptions,
): Promise<LexicalBackfillSummary> {
  const { reporter, op, pageSize = 500 } = options;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new RangeError(
      `Cannot backfill the lexical index: pageSize must be a positive integer, got ${pageSize}`,
    );
  }
  const { db, vectors } = deps;
  const c = await loadIndexedCollection(db, op.collection_id);
  const [counts] = await db.query<{ chunks: number; documents: number }>(
    `select (select count(*)::int from chunks where collection_id = $1 and generation = $2)
              as chunks,
            (select count(*)::int from documents where collection_id = $1 and status = 'completed')
              as documents`,
    [c.id, c.vector_generation],
  );
  const total = counts?.chunks ?? 0;
  const summary: LexicalBackfillSummary = {
    documents_total: counts?.documents ?? 0,
    documents_processed: 0,
    documents_failed: 0,
    documents_skipped: 0,
    chunks_created: 0,
    chunks_total: total,
    chunks_backfilled: 0,
  };
  reporter.updateProgress(0, `Lexical index: 0 of ${total} chunks`, { chunks_total: total });
  if (total > 0) {
    const target = await ensureVectorTarget(deps, c);
    let after = "00000000-0000-0000-0000-000000000000";
    for (;;) {
      await reporter.checkpoint();
      const rows = await db.query<{ id: string; text: string }>(
        `select id::text as id, text from chunks
          where collection_id = $1 and generation = $2 and id > $3::uuid
          order by id limit $4`,
        [c.id, c.vector_generation, after, pageSize],
      );
      if (rows.length === 0) break;
      await vectors.setLexical(target, rows);
      summary.chunks_backfilled += rows.length;
      after = rows[rows.length - 1]!.id;
      const done = Math.min(summary.chunks_backfilled, total);
      reporter.updateProgress(
        Math.min(99, Math.floor((100 * done) / total)),
        `Lexical index: ${done} of ${total} chunks`,
        { chunks_backfilled: summary.chunks_backfilled },
      );
      if (rows.length < pageSize) break;
    }
  }
  await reporter.checkpoint();
  await markLexicalReady(db, c.id);
  summary.documents_processed = summary.documents_total;
  deps.log?.info("lexical index backfilled", {
    collection_id: c.id,
    chunks: summary.chunks_backfilled,
  });
  return summary;
}
