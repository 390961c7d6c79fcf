/**
 * Records indexing outcomes in the live `documents` and `chunks` rows of a collection. One
 * transaction per call: a document's status, content hash and chunk count change together with
 * its chunk rows, after its points were written, so once an operation ends the chunk count and
 * the vector count agree.
 */
import type { Db, Queryable } from "@semantik/shared";
import { changesState, type ChunkRecord, type DocumentOutcome } from "./document_outcome.ts";
import type { IndexSink } from "./index_sink.ts";
import type { DocumentRef } from "./plan_indexing.ts";

export interface LiveIndexSinkOptions {
  db: Db;
  collectionId: string;
  generation: number;
  vectorCollection: string;
  /** The operation recording: it becomes the rows' `indexed_by` where it changes them. */
  operationId: string;
}

export class LiveIndexSink implements IndexSink {
  readonly collectionId: string;
  readonly generation: number;
  readonly vectorCollection: string;
  readonly #db: Db;
  readonly #operationId: string;

  constructor(options: LiveIndexSinkOptions) {
    this.#db = options.db;
    this.collectionId = options.collectionId;
    this.generation = options.generation;
    this.vectorCollection = options.vectorCollection;
    this.#operationId = options.operationId;
  }

  /**
   * Writes a `pending` row for each new document before any of its points exists, so stray
   * points of an interrupted attempt always belong to a row that a later run finds.
   */
  async addPending(
    refs: readonly (DocumentRef & { sizeBytes: number; mtimeMs: number | null })[],
  ): Promise<void> {
    const fresh = refs.filter((r) => r.isNew);
    for (let i = 0; i < fresh.length; i += 1000) {
      const part = fresh.slice(i, i + 1000);
      await this.#db.query(
        `insert into documents (id, collection_id, source_id, uri, size_bytes, mtime, status,
                                indexed_by, last_change)
         select d.id, $1::uuid, d.source_id, d.uri, d.size_bytes, d.mtime, 'pending', $2::uuid,
                'added'
           from unnest($3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::timestamptz[])
             as d(id, source_id, uri, size_bytes, mtime)
         on conflict (collection_id, uri) do nothing`,
        [
          this.collectionId,
          this.#operationId,
          part.map((r) => r.id),
          part.map((r) => r.sourceId) as string[],
          part.map((r) => r.uri),
          part.map((r) => r.sizeBytes),
          part.map((r) => isoOrNull(r.mtimeMs)) as string[],
        ],
      );
    }
  }

  async record(outcomes: readonly DocumentOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const op = this.#operationId;
    const clearRows = outcomes.filter((o) =>
      o.kind !== "touched" && o.ref.mayHavePoints && changesState(o)
    ).map((o) => o.ref.id);
    const written = outcomes.filter((o) =>
      (o.kind === "completed" || o.kind === "failed" || o.kind === "skipped") && changesState(o)
    ) as Extract<DocumentOutcome, { kind: "completed" | "failed" | "skipped" }>[];
    // Same status and error as before (a retried failure failing the same way): only size and
    // mtime may need refreshing, like a touch.
    const touched = outcomes.filter((
      o,
    ) => (o.kind === "touched" ||
      ((o.kind === "failed" || o.kind === "skipped") && !changesState(o)))
    ) as Extract<DocumentOutcome, { kind: "touched" | "failed" | "skipped" }>[];
    const deleted = outcomes.filter((o) => o.kind === "deleted" && changesState(o));
    const dropped = deleted.filter((o) => o.ref.change === null).map((o) => o.ref.id);
    const gone = deleted.filter((o) => o.ref.change !== null).map((o) => o.ref);
    const chunks = written.flatMap((o) =>
      o.kind === "completed" ? o.chunks.map((c) => ({ documentId: o.ref.id, c })) : []
    );

    await this.#db.transaction(async (tx) => {
      if (clearRows.length > 0) {
        await tx.query(
          "delete from chunks where collection_id = $1 and document_id = any($2::uuid[])",
          [this.collectionId, clearRows],
        );
      }
      if (written.length > 0) await this.#upsertDocuments(tx, written, op);
      for (let i = 0; i < chunks.length; i += 2000) {
        await insertChunks(tx, {
          table: "chunks",
          collectionId: this.collectionId,
          generation: this.generation,
          rows: chunks.slice(i, i + 2000),
        });
      }
      const refresh = touched.filter((o) =>
        o.ref.stored &&
        (o.ref.stored.sizeBytes !== o.sizeBytes || o.ref.stored.mtimeMs !== o.mtimeMs)
      );
      if (refresh.length > 0) {
        await tx.query(
          `update documents d set size_bytes = t.size_bytes, mtime = t.mtime, updated_at = now()
             from unnest($2::uuid[], $3::bigint[], $4::timestamptz[]) as t(id, size_bytes, mtime)
            where d.collection_id = $1 and d.id = t.id`,
          [
            this.collectionId,
            refresh.map((o) => o.ref.id),
            refresh.map((o) => o.sizeBytes),
            refresh.map((o) => isoOrNull(o.mtimeMs)) as string[],
          ],
        );
      }
      if (gone.length > 0) {
        await tx.query(
          `update documents set status = 'deleted', chunk_count = 0, error = null,
                  indexed_by = $3::uuid, last_change = 'deleted', updated_at = now()
            where collection_id = $1 and id = any($2::uuid[])`,
          [this.collectionId, gone.map((r) => r.id), op],
        );
      }
      if (dropped.length > 0) {
        await tx.query(
          "delete from documents where collection_id = $1 and id = any($2::uuid[])",
          [this.collectionId, dropped],
        );
      }
    });
  }

  /**
   * The documents' points are gone: their chunk rows go too, and a row that counted as indexed
   * becomes `pending` with no chunks (its old points were cleared before its new ones were all
   * written), so counts agree and the next run indexes it again.
   */
  async discardUnrecorded(documentIds: readonly string[]): Promise<void> {
    if (documentIds.length === 0) return;
    await this.#db.transaction(async (tx) => {
      await tx.query(
        "delete from chunks where collection_id = $1 and document_id = any($2::uuid[])",
        [this.collectionId, documentIds as string[]],
      );
      await tx.query(
        `update documents set status = 'pending', chunk_count = 0, error = null,
                updated_at = now()
          where collection_id = $1 and id = any($2::uuid[])
            and (status <> 'pending' or chunk_count <> 0)`,
        [this.collectionId, documentIds as string[]],
      );
    });
  }

  async #upsertDocuments(
    tx: Queryable,
    outcomes: Extract<DocumentOutcome, { kind: "completed" | "failed" | "skipped" }>[],
    op: string,
  ): Promise<void> {
    const col = <T>(f: (o: (typeof outcomes)[number]) => T) => outcomes.map(f);
    await tx.query(
      `insert into documents (id, collection_id, source_id, uri, content_hash, size_bytes, mtime,
                              mime_type, status, chunk_count, error, indexed_by, last_change,
                              change_token)
       select d.id, $1::uuid, d.source_id, d.uri, d.content_hash, d.size_bytes, d.mtime,
              d.mime_type, d.status, d.chunk_count, d.error, d.indexed_by, d.last_change,
              d.change_token
         from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bigint[],
                     $7::timestamptz[], $8::text[], $9::text[], $10::int[], $11::text[],
                     $12::uuid[], $13::text[], $14::text[])
           as d(id, source_id, uri, content_hash, size_bytes, mtime, mime_type, status,
                chunk_count, error, indexed_by, last_change, change_token)
       on conflict (collection_id, uri) do update set
         source_id = coalesce(documents.source_id, excluded.source_id),
         content_hash = excluded.content_hash,
         size_bytes = excluded.size_bytes,
         mtime = excluded.mtime,
         mime_type = excluded.mime_type,
         status = excluded.status,
         chunk_count = excluded.chunk_count,
         error = excluded.error,
         indexed_by = coalesce(excluded.indexed_by, documents.indexed_by),
         last_change = coalesce(excluded.last_change, documents.last_change),
         change_token = excluded.change_token,
         updated_at = now()`,
      [
        this.collectionId,
        col((o) => o.ref.id),
        col((o) => o.ref.sourceId) as string[],
        col((o) => o.ref.uri),
        col((o) => (o.kind === "completed" ? o.contentHash : null)) as string[],
        col((o) => o.sizeBytes),
        col((o) => isoOrNull(o.mtimeMs)) as string[],
        col((o) => o.mimeType) as string[],
        col((o) => o.kind),
        col((o) => (o.kind === "completed" ? o.chunks.length : 0)),
        col((o) => (o.kind === "completed" ? null : o.reason)) as string[],
        col((o) => (o.ref.change === null ? null : op)) as string[],
        col((o) => o.ref.change) as string[],
        col((o) => o.ref.changeToken ?? null) as string[],
      ],
    );
  }
}

/** Inserts chunk rows into `chunks` or `staged_chunks` (same columns). */
export async function insertChunks(
  tx: Queryable,
  { table, collectionId, generation, rows }: {
    table: "chunks" | "staged_chunks";
    collectionId: string;
    generation: number;
    rows: readonly { documentId: string; c: ChunkRecord }[];
  },
): Promise<void> {
  if (rows.length === 0) return;
  const conflict = table === "chunks" ? "(collection_id, id)" : "(collection_id, generation, id)";
  await tx.query(
    `insert into ${table} (collection_id, generation, id, document_id, ordinal, text,
                           start_offset, end_offset, page, token_count)
     select $1::uuid, $2::int, c.id, c.document_id, c.ordinal, c.text, c.start_offset,
            c.end_offset, c.page, c.token_count
       from unnest($3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::int[], $8::int[],
                   $9::int[], $10::int[])
         as c(id, document_id, ordinal, text, start_offset, end_offset, page, token_count)
     on conflict ${conflict} do update set
       document_id = excluded.document_id, ordinal = excluded.ordinal, text = excluded.text,
       start_offset = excluded.start_offset, end_offset = excluded.end_offset,
       page = excluded.page, token_count = excluded.token_count`,
    [
      collectionId,
      generation,
      rows.map((r) => r.c.id),
      rows.map((r) => r.documentId),
      rows.map((r) => r.c.ordinal),
      rows.map((r) => r.c.text),
      rows.map((r) => r.c.startOffset),
      rows.map((r) => r.c.endOffset),
      rows.map((r) => r.c.page) as number[],
      rows.map((r) => r.c.tokenCount),
    ],
  );
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
