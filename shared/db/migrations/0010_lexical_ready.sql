-- Whether a collection's lexical index (pgvector: each point's `lexical_terms`; Qdrant: the `bm25`
-- sparse vector) covers its points. Collections created from now on index terms as they write
-- points: true. Collections that already hold chunks were indexed before hybrid search, with no
-- terms: false. A migration cannot enqueue jobs, so the worker starts their backfill: the
-- maintenance task `sync.check_continuous_sync` (every 5 minutes by default) and each worker's
-- start record a `reindex` operation with config `{"lexical_only": true}` for every collection with
-- `lexical_ready = false` and no active operation, and enqueue it. That operation writes the terms
-- from the chunk text in Postgres (no re-embedding) and sets `lexical_ready` back to true. Until
-- then hybrid searches use such a collection's dense list alone (the response's `lexical_pending`
-- names it) and lexical searches over it answer 409.
alter table collections add column lexical_ready boolean not null default true;
update collections c set lexical_ready = false
 where exists (select 1 from chunks k where k.collection_id = c.id);
