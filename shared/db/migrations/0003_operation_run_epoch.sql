-- A run of an operation's handler takes a new epoch when it starts (marks the operation
-- `processing`); its later writes require that epoch. A handler that outlived its lease, whose job
-- another worker took over and started again, can then no longer write the row: not even a late
-- completion. Attempt numbers cannot fence: a job enqueued again (reconcile after a Redis loss, a
-- requeued dead letter) starts over at attempt 1.
alter table operations add column run_epoch bigint not null default 0;
