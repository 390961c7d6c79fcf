/** Users: registration and credential checks. Passwords are never logged or returned. */
import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { isUniqueViolation } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { dummyHash, hashPassword, verifyPassword } from "./password.ts";

export const credentialsSchema = z.strictObject({
  username: z.string().trim().min(3).max(64).regex(
    /^[A-Za-z0-9_.@-]+$/,
    "may contain letters, digits and _ . @ - only",
  ),
  password: z.string().min(8).max(256),
});
export type Credentials = z.infer<typeof credentialsSchema>;

export interface User {
  id: string;
  username: string;
}

export async function createUser(db: Queryable, creds: Credentials): Promise<User> {
  const id = crypto.randomUUID();
  const hash = await hashPassword(creds.password);
  try {
    await db.query("insert into users (id, username, password_hash) values ($1, $2, $3)", [
      id,
      creds.username,
      hash,
    ]);
  } catch (err) {
    if (isUniqueViolation(err, "users_username_key")) {
      throw new AppError("conflict", `Cannot register: the username ${creds.username} is taken`);
    }
    throw err;
  }
  return { id, username: creds.username };
}

/** The user when the password matches; undefined otherwise (same work either way). */
export async function authenticate(db: Queryable, creds: Credentials): Promise<User | undefined> {
  const [row] = await db.query<{ id: string; username: string; password_hash: string }>(
    "select id, username, password_hash from users where username = $1",
    [creds.username],
  );
  if (!row) {
    await verifyPassword(creds.password, await dummyHash());
    return undefined;
  }
  return await verifyPassword(creds.password, row.password_hash)
    ? { id: row.id, username: row.username }
    : undefined;
}

export async function getUser(db: Queryable, id: string): Promise<User | undefined> {
  const [row] = await db.query<User>("select id, username from users where id = $1", [id]);
  return row;
}
