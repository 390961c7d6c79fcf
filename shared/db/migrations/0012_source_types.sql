-- Git repositories and web sites as collection sources (issue 25). A directory source keeps its
-- real path in `path`; a Git or web source has `url` instead (and no path). A Git source's
-- token is stored sealed (SecretBox: AES-256-GCM under SECRETS_KEY, bound to the row), never in
-- clear. `revision` is the commit the last indexing run of a Git source listed, `resolved_ref`
-- the ref it listed (the remote's default branch when the source names none).
alter table collection_sources drop constraint collection_sources_type_check;
alter table collection_sources add constraint collection_sources_type_check
  check (type in ('directory', 'git', 'web'));
alter table collection_sources alter column path drop not null;
alter table collection_sources
  add column url text,
  add column ref text,
  add column token_sealed text,
  add column max_pages integer,
  add column max_depth integer,
  add column revision text,
  add column resolved_ref text,
  add column listed_at timestamptz;
alter table collection_sources add constraint collection_sources_location_check check (
  (type = 'directory' and path is not null and url is null)
  or (type in ('git', 'web') and url is not null and path is null)
);
alter table collection_sources add constraint collection_sources_token_check
  check (token_sealed is null or type = 'git');
-- One source per repository and ref (or site) in a collection, as one per directory.
create unique index collection_sources_url_key
  on collection_sources (collection_id, type, url, coalesce(ref, '')) where url is not null;

-- What the source said of a document's content when it was indexed: equal tokens mean equal
-- bytes (`git:<blob id>`, `sha256:<hex>` for a web page, `stat:<size>:<mtime>` for a file), so
-- sync opens only documents whose token changed.
alter table documents add column change_token text;
