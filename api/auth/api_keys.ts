/**
 * API keys (issue 24): long-lived credentials a user makes for scripts and MCP clients. A key is
 * `sk_sem_` followed by 32 random bytes in base62; it is returned once, at creation, and only its
 * SHA-256 is stored (the key's entropy makes a slow hash pointless). Its first characters
 * (`prefix`, unique) find the row and the hash is compared in constant time. Deleting the row
 * revokes the key at once: keys are looked up on every request, never cached. Deleting the user
 * deletes its keys (`on delete cascade`).
 *
 * Scopes: `read` (list, search, read operations and follow them) and `write` (also create and
 * change; it includes `read`). {@link keyAllows} is the one place that maps a request to a scope.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { AppError, type Queryable } from "@semantik/shared";
import type { User } from "./users.ts";

/** What every key starts with; a bearer credential that does not is a login token. */
export const API_KEY_PREFIX = "sk_sem_";
/** Random bytes in a key. */
const KEY_BYTES = 32;
/** Characters of the key (after {@link API_KEY_PREFIX}) kept as its public prefix. */
const PREFIX_CHARS = 8;
/** `last_used_at` is written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export const API_KEY_SCOPES = ["read", "write"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** Body of `POST /api/v2/api-keys`. */
export const createApiKeySchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(2)
    .refine((s) => new Set(s).size === s.length, "must not repeat a scope"),
  expires_in_days: z.int().min(1).max(3650).optional(),
});
export type CreateApiKeyInput = z.infer<typeof createApiKeySchema>;

export interface ApiKeyJson {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** The credential a request was authenticated with, as handlers and guards see it. */
export interface ApiKeyIdentity {
  id: string;
  scopes: ApiKeyScope[];
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `bytes` as a base62 number (big-endian), without leading-zero loss: always the same length. */
export function base62(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  // ceil(len * 8 / log2(62)) digits hold any value of `len` bytes.
  const digits = Math.ceil((bytes.length * 8) / Math.log2(62));
  let out = "";
  for (let i = 0; i < digits; i++) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Whether a bearer credential is shaped like an API key (then it is never tried as a JWT). */
export function isApiKey(credential: string): boolean {
  return credential.startsWith(API_KEY_PREFIX);
}

function keyPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + PREFIX_CHARS);
}

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}

function toJson(row: ApiKeyRow): ApiKeyJson {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    prefix: row.prefix,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    last_used_at: row.last_used_at?.toISOString() ?? null,
  };
}

const COLUMNS = "id, name, scopes, prefix, created_at, expires_at, last_used_at";

/** Makes a key for `userId`; the answer's `key` is the only time the secret is seen. */
export async function createApiKey(
  db: Queryable,
  { userId, input }: { userId: string; input: CreateApiKeyInput },
): Promise<ApiKeyJson & { key: string }> {
  // Keep the canonical order, so a listing reads the same whatever order was asked.
  const scopes = API_KEY_SCOPES.filter((s) => input.scopes.includes(s));
  // A prefix collision (47 bits) is astronomically rare, but costs only another try.
  for (let attempt = 0;; attempt++) {
    const key = API_KEY_PREFIX + base62(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
    const id = crypto.randomUUID();
    const rows = await db.query<ApiKeyRow>(
      `insert into api_keys (id, user_id, name, prefix, key_hash, scopes, expires_at)
       values ($1, $2, $3, $4, $5, $6::text[],
               case when $7::int is null then null else now() + make_interval(days => $7::int) end)
       on conflict (prefix) do nothing
       returning ${COLUMNS}`,
      [
        id,
        userId,
        input.name,
        keyPrefix(key),
        hashApiKey(key),
        scopes,
        input.expires_in_days ?? null,
      ],
    );
    const row = rows[0];
    if (row) return { ...toJson(row), key };
    if (attempt >= 3) throw new Error("Cannot create an API key: prefix collisions keep happening");
  }
}

/** The user's keys, newest first, without their secrets. */
export async function listApiKeys(db: Queryable, userId: string): Promise<ApiKeyJson[]> {
  const rows = await db.query<ApiKeyRow>(
    `select ${COLUMNS} from api_keys where user_id = $1 order by created_at desc, id desc`,
    [userId],
  );
  return rows.map(toJson);
}

/** Revokes (deletes) one of the user's keys: 404 when missing, 403 when another user's. */
export async function deleteApiKey(
  db: Queryable,
  { userId, keyId: id }: { userId: string; keyId: string },
): Promise<void> {
  const [row] = await db.query<{ user_id: string }>(
    `with gone as (delete from api_keys where id = $1 and user_id = $2 returning user_id)
     select user_id from gone
     union all
     select user_id from api_keys where id = $1 and user_id <> $2`,
    [id, userId],
  );
  if (!row) throw new AppError("not_found", `API key ${id} not found`);
  if (row.user_id !== userId) {
    throw new AppError("forbidden", `API key ${id} belongs to another user`);
  }
}

/**
 * The user and key a presented API key stands for, or undefined when it is unknown, revoked,
 * expired or malformed. Looks the key up by prefix, compares the hash in constant time, and
 * records `last_used_at` when the stored one is older than {@link LAST_USED_RESOLUTION_MS}
 * (one cheap write per key per minute, not per request).
 */
export async function authenticateApiKey(
  db: Queryable,
  key: string,
): Promise<{ user: User; apiKey: ApiKeyIdentity } | undefined> {
  if (!isApiKey(key) || key.length < API_KEY_PREFIX.length + PREFIX_CHARS + 1) return undefined;
  if (key.length > 200 || !/^[0-9A-Za-z_]+$/.test(key)) return undefined;
  const [row] = await db.query<{
    id: string;
    key_hash: string;
    scopes: ApiKeyScope[];
    expired: boolean;
    last_used_at: Date | null;
    user_id: string;
    username: string;
  }>(
    `select k.id, k.key_hash, k.scopes, k.last_used_at,
            (k.expires_at is not null and k.expires_at <= now()) as expired,
            u.id as user_id, u.username
       from api_keys k join users u on u.id = k.user_id
      where k.prefix = $1`,
    [keyPrefix(key)],
  );
  if (!row) return undefined;
  const given = Buffer.from(hashApiKey(key), "hex");
  const stored = Buffer.from(row.key_hash, "hex");
  if (given.length !== stored.length || !timingSafeEqual(given, stored)) return undefined;
  if (row.expired) return undefined;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
    // The condition in SQL too: concurrent requests of one key write it once.
    await db.query(
      `update api_keys set last_used_at = now()
        where id = $1 and (last_used_at is null
                           or last_used_at < now() - make_interval(secs => $2::int))`,
      [row.id, LAST_USED_RESOLUTION_MS / 1000],
    );
  }
  return {
    user: { id: row.user_id, username: row.username },
    apiKey: { id: row.id, scopes: row.scopes },
  };
}

/**
 * Whether a key with `scopes` may make this `/api/*` request. `read` covers GET/HEAD and the
 * read-only POSTs (search); everything else needs `write`. Account changes (`/api/auth/*` other
 * than `GET /api/auth/me`) need a login token whatever the key's scopes ({@link needsLoginToken}).
 * (`/mcp` checks no scope: its tools only read, and every key can read.)
 */
export function keyAllows(
  scopes: readonly ApiKeyScope[],
  request: { method: string; path: string },
): boolean {
  if (needsLoginToken(request)) return false;
  if (scopes.includes("write")) return true;
  if (!scopes.includes("read")) return false;
  const method = request.method.toUpperCase();
  if (method === "GET" || method === "HEAD") return true;
  return method === "POST" && READ_ONLY_POSTS.has(request.path);
}

/** Account routes: a key cannot change the password or delete the account. */
export function needsLoginToken(request: { method: string; path: string }): boolean {
  if (!request.path.startsWith("/api/auth/")) return false;
  return !(request.path === "/api/auth/me" && ["GET", "HEAD"].includes(request.method));
}

/** POST routes that change nothing. */
const READ_ONLY_POSTS = new Set(["/api/v2/search", "/api/v2/sources/preview"]);
