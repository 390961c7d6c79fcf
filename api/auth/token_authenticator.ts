/**
 * Checks a bearer token all the way: signature, algorithm and expiry ({@link verifyToken}), then
 * that its user still exists and that its version is the user's current one. A deleted user's
 * tokens, and tokens issued before a password change, are refused. Users are cached briefly, so a
 * busy client costs one query per user per `cacheMs`; a change made through this process takes
 * effect at once ({@link TokenAuthenticator.forget}), one made through another API replica within
 * `cacheMs`.
 *
 * An API key (`sk_sem_...`, issue 24) is accepted wherever a token is: it is looked up on every
 * use, never cached, so a revoked or expired key is refused at once ({@link authenticateApiKey}).
 */
import type { Queryable } from "@semantik/shared";
import { verifyToken } from "./tokens.ts";
import { type ApiKeyIdentity, authenticateApiKey, isApiKey } from "./api_keys.ts";
import { type Account, getAccount, type User } from "./users.ts";

/** Options of {@link TokenAuthenticator}. */
export interface TokenAuthenticatorOptions {
  /** How long a looked-up user (or its absence) is trusted, in ms. @default {5000} */
  cacheMs?: number;
  /** Users kept in the cache at most; the oldest go first. @default {10000} */
  maxCached?: number;
}

export class TokenAuthenticator {
  readonly #db: Queryable;
  readonly #secret: string;
  readonly #cacheMs: number;
  readonly #maxCached: number;
  readonly #cache = new Map<string, { account: Account | undefined; at: number }>();

  constructor(db: Queryable, secret: string, options: TokenAuthenticatorOptions = {}) {
    const { cacheMs = 5000, maxCached = 10_000 } = options;
    if (!(cacheMs >= 0)) {
      throw new RangeError(
        `Cannot create token authenticator: cacheMs must be >= 0, got ${cacheMs}`,
      );
    }
    if (!Number.isInteger(maxCached) || maxCached < 1) {
      throw new RangeError(
        `Cannot create token authenticator: maxCached must be a positive integer, got ${maxCached}`,
      );
    }
    this.#db = db;
    this.#secret = secret;
    this.#cacheMs = cacheMs;
    this.#maxCached = maxCached;
  }

  /**
   * The credential's user, or undefined when the token (or API key) or its user is not (or no
   * longer) valid. Scopes are not checked here: see {@link authenticateCredential}.
   */
  async authenticate(token: string): Promise<User | undefined> {
    return (await this.authenticateCredential(token))?.user;
  }

  /** Like {@link authenticate}, also naming the API key when the credential is one. */
  async authenticateCredential(
    token: string,
  ): Promise<{ user: User; apiKey?: ApiKeyIdentity } | undefined> {
    if (isApiKey(token)) return await authenticateApiKey(this.#db, token);
    const user = await this.#authenticateToken(token);
    return user && { user };
  }

  async #authenticateToken(token: string): Promise<User | undefined> {
    const claims = await verifyToken(this.#secret, token);
    if (!claims) return undefined;
    const account = await this.#account(claims.sub);
    if (!account || account.tokenVersion !== claims.ver) return undefined;
    return { id: account.id, username: account.username };
  }

  /** Drops a cached user, after its password changed or it was deleted through this process. */
  forget(userId: string): void {
    this.#cache.delete(userId);
  }

  async #account(id: string): Promise<Account | undefined> {
    const now = Date.now();
    const hit = this.#cache.get(id);
    if (hit && now - hit.at < this.#cacheMs) return hit.account;
    // A `sub` that is not a UUID names no user (and must not reach a uuid comparison).
    const account = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
      ? await getAccount(this.#db, id)
      : undefined;
    this.#cache.delete(id);
    if (this.#cache.size >= this.#maxCached) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(id, { account, at: now });
    return account;
  }
}
