-- Indexing state: which vector generation serves a collection, which operation last changed a
-- document (so a resumed operation reports what it did across attempts), and staging tables in
-- which a blue/green reindex builds the next generation before switching to it in one
-- transaction.

-- Searches reach vectors through the alias `col_<hex>`; it points at the physical collection
-- `col_<hex>_g<vector_generation>`. Chunk ids (= point ids) depend on the generation, so the rows
-- of two generations can coexist while a reindex switches.
alter table collections add column vector_generation integer not null default 1;
alter table collections add constraint collections_vector_generation_check
  check (vector_generation >= 1);

alter table chunks add column generation integer not null default 1;

-- The operation that last indexed, re-classified or deleted the document, and what it was to
-- that operation. Completion metadata counts these, so a job resumed by another worker still
-- reports everything its operation did.
alter table documents add column indexed_by uuid;
alter table documents add column last_change text;
alter table documents add constraint documents_last_change_check
  check (last_change in ('added', 'modified', 'deleted'));
create index documents_indexed_by_idx on documents (indexed_by) where indexed_by is not null;

-- A reindex's next generation, until the switch: one row per re-extracted document, with what
-- the document row becomes at the switch ...
create table staged_documents (
  collection_id uuid not null,
  generation integer not null,
  document_id uuid not null references documents (id) on delete cascade,
  content_hash text,
  size_bytes bigint not null default 0,
  mtime timestamptz,
  mime_type text,
  status text not null,
  error text,
  chunk_count integer not null default 0,
  constraint staged_documents_pkey primary key (collection_id, generation, document_id),
  constraint staged_documents_status_check check (status in ('completed', 'failed', 'skipped'))
);

-- ... and its chunks, copied into `chunks` at the switch.
create table staged_chunks (
  collection_id uuid not null,
  generation integer not null,
  id uuid not null,
  document_id uuid not null references documents (id) on delete cascade,
  ordinal integer not null,
  text text not null,
  start_offset integer not null default 0,
  end_offset integer not null default 0,
  page integer,
  token_count integer not null default 0,
  constraint staged_chunks_pkey primary key (collection_id, generation, id)
);
create index staged_chunks_document_idx on staged_chunks (collection_id, generation, document_id);
