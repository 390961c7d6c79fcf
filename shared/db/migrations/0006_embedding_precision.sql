-- The numeric precision (fp32, fp16, int8) of the graph a collection's vectors were made with.
-- Queries are embedded at the same precision; changing it is a reindex. Null until the first
-- indexing run records the precision it used. Collections made before this column existed were
-- embedded by the float32 graph (the only one there was).
alter table collections add column embedding_precision text;
update collections set embedding_precision = 'fp32';
alter table collections add constraint collections_embedding_precision_check
  check (embedding_precision is null or embedding_precision in ('fp32', 'fp16', 'int8'));
