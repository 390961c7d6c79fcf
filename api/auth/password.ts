/**
 * Password hashing with scrypt from `node:crypto`: salted, slow, and memory-hard. The stored form
 * carries its parameters (`scrypt$N$r$p$salt$hash`), so they can be raised later without breaking
 * existing hashes: {@link needsRehash} says when a stored hash is weaker than today's, and a
 * successful login rewrites it.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** log2 of scrypt's N for new hashes unless a caller says otherwise (N = 2^17, 128 MiB). */
export const DEFAULT_PASSWORD_COST = 17;
const R = 8;
const P = 1;
const KEYLEN = 32;
/**
 * Derivations running at once in this process; more wait. Each takes 128 x N x r bytes (128 MiB
 * at N = 2^17), and nothing else bounds them: a burst of logins must not take gigabytes.
 */
const MAX_CONCURRENT = 2;

/** Options of {@link hashPassword} and {@link needsRehash}. */
export interface PasswordHashOptions {
  /** log2 of scrypt's N (14 to 20). @default {17} */
  cost?: number;
}

let running = 0;
const waiting: (() => void)[] = [];

async function derive(
  password: string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
  len: number,
): Promise<Buffer> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await new Promise<Buffer>((resolve, reject) =>
      scrypt(
        password.normalize("NFKC"),
        salt,
        len,
        // scrypt needs 128 x N x r bytes; maxmem must be above that (Node's default is 32 MiB).
        { N: n, r, p, maxmem: 128 * n * r * 2 },
        (err, key) => err ? reject(err) : resolve(key),
      )
    );
  } finally {
    // Hands the slot straight to the next waiter (running stays counted), or frees it.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

function costOf(options: PasswordHashOptions): number {
  const { cost = DEFAULT_PASSWORD_COST } = options;
  if (!Number.isInteger(cost) || cost < 14 || cost > 20) {
    throw new RangeError(
      `Cannot hash a password: cost must be an integer from 14 to 20, got ${cost}`,
    );
  }
  return cost;
}

export async function hashPassword(
  password: string,
  options: PasswordHashOptions = {},
): Promise<string> {
  const n = 2 ** costOf(options);
  const salt = randomBytes(16);
  const key = await derive(password, salt, n, R, P, KEYLEN);
  return `scrypt$${n}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

function parse(stored: string) {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((x) => Number.isInteger(x) && x > 0)) return undefined;
  // A power of two up to 2^20 with r x p small: what this module ever wrote; anything else would
  // make scrypt throw or take unbounded memory.
  if ((n & (n - 1)) !== 0 || n < 2 || n > 2 ** 20 || r > 32 || p > 16) return undefined;
  return {
    n,
    r,
    p,
    salt: Buffer.from(parts[4]!, "base64"),
    hash: Buffer.from(parts[5]!, "base64"),
  };
}

/** Compares in constant time; false for a malformed stored hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parse(stored);
  if (!h || h.hash.length === 0) return false;
  const key = await derive(password, h.salt, h.n, h.r, h.p, h.hash.length);
  return key.length === h.hash.length && timingSafeEqual(key, h.hash);
}

/** Whether `stored` was made with weaker parameters than {@link hashPassword} uses now. */
export function needsRehash(stored: string, options: PasswordHashOptions = {}): boolean {
  const h = parse(stored);
  if (!h) return true;
  return h.n < 2 ** costOf(options) || h.r !== R || h.p !== P || h.hash.length !== KEYLEN;
}

/**
 * A hash of a random password at the given cost, checked when a login names an unknown user, so
 * that unknown and known usernames take the same time to refuse.
 */
const dummies = new Map<number, Promise<string>>();
export function dummyHash(options: PasswordHashOptions = {}): Promise<string> {
  const cost = costOf(options);
  let dummy = dummies.get(cost);
  if (!dummy) {
    dummy = hashPassword(crypto.randomUUID(), { cost });
    dummies.set(cost, dummy);
  }
  return dummy;
}
