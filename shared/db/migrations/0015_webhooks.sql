-- Webhooks (issue 24): a user's HTTP endpoints told when their operations end, and the outbox
-- of deliveries to them.
--
-- The secret is kept sealed by SECRETS_KEY (shared/sources/secret_box.ts, context
-- `webhooks/<id>/secret`): the worker needs it in clear to sign, so it cannot be a hash.
create table webhooks (
  id uuid primary key,
  owner_id uuid not null references users (id) on delete cascade,
  url text not null,
  events text[] not null,
  secret_sealed text not null,
  created_at timestamptz not null default now(),
  constraint webhooks_events_check check (
    cardinality(events) > 0
    and events <@ array['operation.completed', 'operation.failed', 'operation.cancelled']::text[]
  )
);
create index webhooks_owner_idx on webhooks (owner_id, created_at desc);

-- One row per (webhook, terminal transition of an operation), written by shared/operations in
-- the transaction that ends the operation, so a process that dies right after the commit loses
-- no delivery: the sweep enqueues rows that were never enqueued. `payload` is the body sent
-- (the operation as it ended), fixed at that moment. Deleting the webhook deletes its rows,
-- and a delivery job that finds no row sends nothing.
create table webhook_deliveries (
  id uuid primary key,
  webhook_id uuid not null references webhooks (id) on delete cascade,
  operation_id uuid not null,
  event text not null,
  payload jsonb not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  last_error text,
  response_status integer,
  created_at timestamptz not null default now(),
  enqueued_at timestamptz,
  last_attempt_at timestamptz,
  completed_at timestamptz,
  constraint webhook_deliveries_status_check check (status in ('pending', 'succeeded', 'failed'))
);
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, created_at desc);
create index webhook_deliveries_pending_idx on webhook_deliveries (created_at)
  where status = 'pending';
