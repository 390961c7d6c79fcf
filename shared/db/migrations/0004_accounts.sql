-- Accounts (issue 18): a token version, and usernames unique whatever their case.
--
-- Tokens carry the version their user had when they were issued; changing the password raises
-- it, which revokes every token issued before (deleting the user removes the row they name).
alter table users add column token_version integer not null default 0;

-- `alice` and `Alice` are one account: login looks names up by lower(username), and
-- normalizeUsername() in api/auth/users.ts is the one place the application folds case. The
-- name keeps the spelling it was registered with. (Fails, naming the pair, if two existing
-- accounts differ only in case: rename one first.)
create unique index users_username_lower_key on users (lower(username));
alter table users drop constraint users_username_key;
