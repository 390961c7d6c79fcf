-- Issue 26: a continuous collection's sync can be paused; continuous sync skips it (a manual
-- sync still runs) until it is resumed.
alter table collections add column sync_paused boolean not null default false;
