/**
 * Records a reindex's outcomes in the staging tables (`staged_documents`, `staged_chunks`) of the
 * generation being built. Nothing a search or a collection count reads changes until the switch
 * copies them into the live rows in one transaction (see `switchGeneration`).
 */
import type { Db } from "@semantik/shared";
import type { DocumentOutcome } from "./document_outcome.ts";
import type { IndexSink } from "./index_sink.ts";
import { insertChunks, isoOrNull } from "./live_index_sink.ts";

export interface StagedIndexSinkOptions {
  db: Db;
  collectionId: string;
  /** The generation being built. */
  generation: number;
  vectorCollection: string;
}

export class StagedIndexSink implements IndexSink {
  readonly collectionId: string;
  readonly generation: number;
  readonly vectorCollection: string;
  readonly #db: Db;

  constructor(options: StagedIndexSinkOptions) {
    this.#db = options.db;
    this.collectionId = options.collectionId;
    this.generation = options.generation;
    this.vectorCollection = options.vectorCollection;
  }

  /** Drops the documents' staged rows: the generation being built shows nothing of them. */
  async discardUnrecorded(documentIds: readonly string[]): Promise<void> {
    if (documentIds.length === 0) return;
    await this.#db.transaction(async (tx) => {
      for (const table of ["staged_chunks", "staged_documents"]) {
        await tx.query(
          `delete from ${table}
            where collection_id = $1 and generation = $2 and document_id = any($3::uuid[])`,
          [this.collectionId, this.generation, documentIds as string[]],
        );
      }
    });
  }

  async record(outcomes: readonly DocumentOutcome[]): Promise<void> {
    const staged = outcomes.filter((o) =>
      o.kind === "completed" || o.kind === "failed" || o.kind === "skipped"
    ) as Extract<DocumentOutcome, { kind: "completed" | "failed" | "skipped" }>[];
    if (staged.length === 0) return;
    const ids = staged.map((o) => o.ref.id);
    const chunks = staged.flatMap((o) =>
      o.kind === "completed" ? o.chunks.map((c) => ({ documentId: o.ref.id, c })) : []
    );
    const col = <T>(f: (o: (typeof staged)[number]) => T) => staged.map(f);
    await this.#db.transaction(async (tx) => {
      await tx.query(
        `delete from staged_chunks
          where collection_id = $1 and generation = $2 and document_id = any($3::uuid[])`,
        [this.collectionId, this.generation, ids],
      );
      for (let i = 0; i < chunks.length; i += 2000) {
        await insertChunks(tx, {
          table: "staged_chunks",
          collectionId: this.collectionId,
          generation: this.generation,
          rows: chunks.slice(i, i + 2000),
        });
      }
      await tx.query(
        `insert into staged_documents (collection_id, generation, document_id, content_hash,
                                       size_bytes, mtime, mime_type, status, error, chunk_count)
         select $1::uuid, $2::int, d.document_id, d.content_hash, d.size_bytes, d.mtime,
                d.mime_type, d.status, d.error, d.chunk_count
           from unnest($3::uuid[], $4::text[], $5::bigint[], $6::timestamptz[], $7::text[],
                       $8::text[], $9::text[], $10::int[])
             as d(document_id, content_hash, size_bytes, mtime, mime_type, status, error,
                  chunk_count)
         on conflict (collection_id, generation, document_id) do update set
           content_hash = excluded.content_hash, size_bytes = excluded.size_bytes,
           mtime = excluded.mtime, mime_type = excluded.mime_type, status = excluded.status,
           error = excluded.error, chunk_count = excluded.chunk_count`,
        [
          this.collectionId,
          this.generation,
          ids,
          col((o) => (o.kind === "completed" ? o.contentHash : null)) as string[],
          col((o) => o.sizeBytes),
          col((o) => isoOrNull(o.mtimeMs)) as string[],
          col((o) => o.mimeType) as string[],
          col((o) => o.kind),
          col((o) => (o.kind === "completed" ? null : o.reason)) as string[],
          col((o) => (o.kind === "completed" ? o.chunks.length : 0)),
        ],
      );
    });
  }
}
