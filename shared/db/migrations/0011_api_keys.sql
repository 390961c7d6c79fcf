-- API keys (issue 24): long-lived credentials for scripts and MCP clients, owned by a user.
--
-- The secret (`sk_sem_` + base62 of 32 random bytes) is shown once at creation; only its SHA-256 (hex)
-- is kept (a key has 190 bits of entropy, so a fast hash is enough: nothing can be guessed
-- offline). `prefix` (the first characters of the key, unique) finds the row; the hash is then
-- compared in constant time. Deleting the row revokes the key; deleting the user deletes its keys.
create table api_keys (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  name text not null,
  prefix text not null,
  key_hash text not null,
  scopes text[] not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  constraint api_keys_prefix_key unique (prefix),
  constraint api_keys_scopes_check
    check (cardinality(scopes) > 0 and scopes <@ array['read', 'write']::text[])
);
create index api_keys_user_idx on api_keys (user_id, created_at desc);
