/**
 * Users: registration, credential checks, password changes and deletion. Passwords are never
 * logged or returned. Usernames are unique whatever their case (`users_username_lower_key`);
 * {@link normalizeUsername} is the one place that folds them.
 */
import { z } from "zod";
import { AppError, isUniqueViolation, type Queryable } from "@semantik/shared";
import {
  dummyHash,
  hashPassword,
  needsRehash,
  type PasswordHashOptions,
  verifyPassword,
} from "./password.ts";

const usernameSchema = z.string().trim().min(3).max(64).regex(
  /^[A-Za-z0-9_.@-]+$/,
  "may contain letters, digits and _ . @ - only",
);
const passwordSchema = z.string().min(8).max(256);

export const credentialsSchema = z.strictObject({
  username: usernameSchema,
  password: passwordSchema,
});
export type Credentials = z.infer<typeof credentialsSchema>;

/** Body of `PATCH /api/auth/me`. */
export const passwordChangeSchema = z.strictObject({
  current_password: z.string().min(1).max(256),
  new_password: passwordSchema,
});

/** Body of `DELETE /api/auth/me`. */
export const accountDeletionSchema = z.strictObject({
  password: z.string().min(1).max(256),
});

export interface User {
  id: string;
  username: string;
}

/** A user as tokens are checked against it. */
export interface Account extends User {
  /** Raised by a password change: tokens issued with a lower one are refused. */
  tokenVersion: number;
}

/**
 * The form of a username that identifies its account: the same for `Alice` and `alice`, and what
 * the database's unique index (`lower(username)`) compares. Usernames are ASCII (the schema), so
 * JavaScript's and Postgres' lower case agree.
 */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

export async function createUser(
  db: Queryable,
  creds: Credentials,
  options: PasswordHashOptions = {},
): Promise<User> {
  const id = crypto.randomUUID();
  const hash = await hashPassword(creds.password, options);
  try {
    await db.query("insert into users (id, username, password_hash) values ($1, $2, $3)", [
      id,
      creds.username,
      hash,
    ]);
  } catch (err) {
    if (isUniqueViolation(err, "users_username_lower_key")) {
      throw new AppError("conflict", `Cannot register: the username ${creds.username} is taken`);
    }
    throw err;
  }
  return { id, username: creds.username };
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  token_version: number;
}

/**
 * The account when the password matches; undefined otherwise (same work either way). A hash made
 * with weaker parameters than `options` asks for is rewritten with them, now that the password is
 * known to be right.
 */
export async function authenticate(
  db: Queryable,
  creds: Credentials,
  options: PasswordHashOptions = {},
): Promise<Account | undefined> {
  const [row] = await db.query<UserRow>(
    "select id, username, password_hash, token_version from users where lower(username) = $1",
    [normalizeUsername(creds.username)],
  );
  if (!row) {
    await verifyPassword(creds.password, await dummyHash(options));
    return undefined;
  }
  if (!(await verifyPassword(creds.password, row.password_hash))) return undefined;
  if (needsRehash(row.password_hash, options)) {
    // Only over the hash just checked: a password changed meanwhile is not overwritten.
    await db.query("update users set password_hash = $3 where id = $1 and password_hash = $2", [
      row.id,
      row.password_hash,
      await hashPassword(creds.password, options),
    ]);
  }
  return { id: row.id, username: row.username, tokenVersion: row.token_version };
}

export async function getUser(db: Queryable, id: string): Promise<User | undefined> {
  const [row] = await db.query<User>("select id, username from users where id = $1", [id]);
  return row;
}

/** The account tokens of `id` are checked against; undefined when there is no such user. */
export async function getAccount(db: Queryable, id: string): Promise<Account | undefined> {
  const [row] = await db.query<{ id: string; username: string; token_version: number }>(
    "select id, username, token_version from users where id = $1",
    [id],
  );
  return row && { id: row.id, username: row.username, tokenVersion: row.token_version };
}

async function checkPassword(db: Queryable, userId: string, password: string, what: string) {
  const [row] = await db.query<UserRow>(
    "select id, username, password_hash, token_version from users where id = $1",
    [userId],
  );
  if (!row) throw new AppError("unauthorized", "The token's user no longer exists");
  if (!(await verifyPassword(password, row.password_hash))) {
    throw new AppError("forbidden", `Cannot ${what}: the password is wrong`);
  }
  return row;
}

/**
 * Sets a new password after checking the current one, and raises the token version: every token
 * issued before (this one included) is refused from now on. Returns the account with its new
 * version, for a fresh token.
 */
export async function changePassword(
  db: Queryable,
  { userId, change, cost }: PasswordHashOptions & {
    userId: string;
    change: { current_password: string; new_password: string };
  },
): Promise<Account> {
  const row = await checkPassword(db, userId, change.current_password, "change the password");
  const hash = await hashPassword(change.new_password, { cost });
  const [updated] = await db.query<{ token_version: number }>(
    `update users set password_hash = $2, token_version = token_version + 1
      where id = $1 returning token_version`,
    [userId, hash],
  );
  if (!updated) throw new AppError("unauthorized", "The token's user no longer exists");
  return { id: row.id, username: row.username, tokenVersion: updated.token_version };
}

/**
 * Deletes the account after checking its password; its tokens then name no user and are refused.
 * A user who still has collections must delete them first (409): their vectors and running
 * operations are cleaned up by the collections' own delete operations, which a bare row deletion
 * would skip.
 */
export async function deleteUser(
  db: Queryable,
  { userId, password }: { userId: string; password: string },
): Promise<void> {
  await checkPassword(db, userId, password, "delete the account");
  const deleted = await db.query(
    `delete from users where id = $1
        and not exists (select 1 from collections where owner_id = $1) returning id`,
    [userId],
  );
  if (deleted.length === 0) {
    throw new AppError(
      "conflict",
      "Cannot delete the account: it still has collections; delete them first",
    );
  }
}
