-- Initial schema. Plain SQL that Postgres 15 runs (PGlite is 18: nothing newer than 15 here).
-- Statuses are lowercase everywhere and checked here, so no path can write another spelling.

create table users (
  id uuid primary key,
  username text not null,
  password_hash text not null,
  created_at timestamptz not null default now(),
  constraint users_username_key unique (username),
  constraint users_username_check check (length(username) between 1 and 64)
);

create table collections (
  id uuid primary key,
  owner_id uuid not null references users (id) on delete cascade,
  name text not null,
  description text not null default '',
  status text not null default 'pending',
  status_message text,
  embedding_model text not null,
  vector_dim integer not null,
  chunk_size integer not null,
  chunk_overlap integer not null,
  sync_mode text not null default 'one_time',
  sync_interval_minutes integer not null default 60,
  -- Name of the vector collection (Qdrant collection or pgvector table) now serving searches.
  vector_store_name text not null,
  next_sync_at timestamptz,
  last_synced_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint collections_owner_name_key unique (owner_id, name),
  constraint collections_status_check
    check (status in ('pending', 'ready', 'processing', 'error', 'deleting')),
  constraint collections_sync_mode_check check (sync_mode in ('one_time', 'continuous')),
  constraint collections_sync_interval_check check (sync_interval_minutes >= 1),
  constraint collections_chunk_check
    check (chunk_size > 0 and chunk_overlap >= 0 and chunk_overlap < chunk_size),
  constraint collections_vector_dim_check check (vector_dim > 0)
);
create index collections_owner_created_idx on collections (owner_id, created_at desc, id desc);
create index collections_sync_due_idx on collections (next_sync_at)
  where sync_mode = 'continuous';

create table collection_sources (
  id uuid primary key,
  collection_id uuid not null references collections (id) on delete cascade,
  type text not null default 'directory',
  path text not null,
  include jsonb not null default '[]',
  exclude jsonb not null default '[]',
  created_at timestamptz not null default now(),
  constraint collection_sources_type_check check (type in ('directory')),
  constraint collection_sources_path_key unique (collection_id, path)
);

create table documents (
  id uuid primary key,
  collection_id uuid not null references collections (id) on delete cascade,
  source_id uuid references collection_sources (id) on delete cascade,
  uri text not null,
  content_hash text,
  size_bytes bigint not null default 0,
  mtime timestamptz,
  mime_type text,
  status text not null default 'pending',
  chunk_count integer not null default 0,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint documents_collection_uri_key unique (collection_id, uri),
  constraint documents_status_check
    check (status in ('pending', 'completed', 'failed', 'skipped', 'deleted'))
);
create index documents_collection_status_idx on documents (collection_id, status);
create index documents_source_idx on documents (source_id);
create index documents_collection_updated_idx on documents (collection_id, updated_at desc, id desc);

-- Chunks are partitioned by collection (hash of its id), so reading or deleting one collection's
-- chunks touches one partition.
create table chunks (
  collection_id uuid not null,
  id uuid not null,
  document_id uuid not null,
  ordinal integer not null,
  text text not null,
  start_offset integer not null default 0,
  end_offset integer not null default 0,
  page integer,
  token_count integer not null default 0,
  created_at timestamptz not null default now(),
  constraint chunks_pkey primary key (collection_id, id),
  constraint chunks_document_fkey foreign key (document_id) references documents (id)
    on delete cascade
) partition by hash (collection_id);
create table chunks_p0 partition of chunks for values with (modulus 16, remainder 0);
create table chunks_p1 partition of chunks for values with (modulus 16, remainder 1);
create table chunks_p2 partition of chunks for values with (modulus 16, remainder 2);
create table chunks_p3 partition of chunks for values with (modulus 16, remainder 3);
create table chunks_p4 partition of chunks for values with (modulus 16, remainder 4);
create table chunks_p5 partition of chunks for values with (modulus 16, remainder 5);
create table chunks_p6 partition of chunks for values with (modulus 16, remainder 6);
create table chunks_p7 partition of chunks for values with (modulus 16, remainder 7);
create table chunks_p8 partition of chunks for values with (modulus 16, remainder 8);
create table chunks_p9 partition of chunks for values with (modulus 16, remainder 9);
create table chunks_p10 partition of chunks for values with (modulus 16, remainder 10);
create table chunks_p11 partition of chunks for values with (modulus 16, remainder 11);
create table chunks_p12 partition of chunks for values with (modulus 16, remainder 12);
create table chunks_p13 partition of chunks for values with (modulus 16, remainder 13);
create table chunks_p14 partition of chunks for values with (modulus 16, remainder 14);
create table chunks_p15 partition of chunks for values with (modulus 16, remainder 15);
create index chunks_document_idx on chunks (collection_id, document_id, ordinal);

-- Operations keep their record after their collection is deleted: collection_id is kept, with no
-- foreign key to a row that goes away.
create table operations (
  id uuid primary key,
  collection_id uuid not null,
  owner_id uuid not null references users (id) on delete cascade,
  type text not null,
  status text not null default 'pending',
  progress integer not null default 0,
  message text not null default '',
  error_message text,
  config jsonb not null default '{}',
  metadata jsonb not null default '{}',
  attempts integer not null default 0,
  -- Highest event id published for this operation; the event script never goes below it.
  event_seq bigint not null default 0,
  cancel_requested_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  constraint operations_type_check
    check (type in ('index', 'append', 'remove_source', 'sync', 'reindex', 'delete')),
  constraint operations_status_check
    check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  constraint operations_progress_check check (progress between 0 and 100)
);
-- At most one active write operation per collection; every operation type is a write.
create unique index operations_one_active_per_collection on operations (collection_id)
  where status in ('pending', 'processing');
create index operations_owner_created_idx on operations (owner_id, created_at desc, id desc);
create index operations_collection_created_idx
  on operations (collection_id, created_at desc, id desc);
create index operations_status_idx on operations (status, updated_at);
