/**
 * Encryption of the secrets a source carries (a Git token) at rest: AES-256-GCM (WebCrypto) with
 * a key derived from `SECRETS_KEY` by HKDF-SHA-256, a random 96-bit nonce per secret, and the
 * place the secret belongs to (e.g. `collection_sources/<id>/token`) as associated data, so a
 * sealed value copied to another row does not open. Sealed values name the key they were
 * sealed with (a short fingerprint), so a changed `SECRETS_KEY` is a clear error, not garbage.
 *
 * `SECRETS_KEY` is handled like `JWT_SECRET`: required in production once a secret is stored,
 * generated once and kept in `DATA_DIR/secrets_key` (mode 0600) in development.
 */
import type { Config } from "../config/config.ts";
import { developmentSecret } from "../config/development_secret.ts";
import type { Logger } from "../log/logger.ts";

const VERSION = "v1";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Thrown when a sealed secret cannot be opened (another key, tampered, not a sealed value). */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretError";
  }
}

export class SecretBox {
  readonly #key: CryptoKey;
  /** Names the key in sealed values; derived one-way, so it discloses nothing of the key. */
  readonly keyId: string;

  private constructor(key: CryptoKey, keyId: string) {
    this.#key = key;
    this.keyId = keyId;
  }

  /**
   * A box for `secretsKey` (SECRETS_KEY: at least 32 characters, e.g. `openssl rand -hex 32`).
   * @throws {RangeError} for a shorter key.
   */
  static async fromKey(secretsKey: string): Promise<SecretBox> {
    if (typeof secretsKey !== "string" || secretsKey.length < 32) {
      throw new RangeError("Cannot use SECRETS_KEY: it must be at least 32 characters");
    }
    const material = await crypto.subtle.importKey(
      "raw",
      encoder.encode(secretsKey),
      "HKDF",
      false,
      ["deriveKey", "deriveBits"],
    );
    const hkdf = (info: string) => ({
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode("semantik-secrets"),
      info: encoder.encode(info),
    });
    const key = await crypto.subtle.deriveKey(
      hkdf("aes-256-gcm v1"),
      material,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
    const id = new Uint8Array(await crypto.subtle.deriveBits(hkdf("key id v1"), material, 48));
    return new SecretBox(key, base64url(id));
  }

  /** `plaintext` sealed for `context`: `v1.<key id>.<nonce>.<ciphertext and tag>` (base64url). */
  async seal(plaintext: string, context: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
      this.#key,
      encoder.encode(plaintext),
    );
    return [VERSION, this.keyId, base64url(iv), base64url(new Uint8Array(sealed))].join(".");
  }

  /**
   * The secret sealed for `context`.
   * @throws {SecretError} when `sealed` is not a sealed value, was sealed with another key or
   * for another context, or was altered. The message never holds the secret.
   */
  async open(sealed: string, context: string): Promise<string> {
    const parts = typeof sealed === "string" ? sealed.split(".") : [];
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new SecretError("Cannot open secret: not a sealed value");
    }
    const [, keyId, iv, data] = parts as [string, string, string, string];
    if (keyId !== this.keyId) {
      throw new SecretError(
        `Cannot open secret: it was sealed with another SECRETS_KEY (key ${keyId}, this is ` +
          `${this.keyId}); restore that key or store the secret again`,
      );
    }
    try {
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: fromBase64url(iv), additionalData: encoder.encode(context) },
        this.#key,
        fromBase64url(data),
      );
      return decoder.decode(plain);
    } catch {
      throw new SecretError("Cannot open secret: it was altered or belongs elsewhere");
    }
  }
}

/**
 * The secrets key: `SECRETS_KEY` when set; in development a random key generated once and kept
 * in `DATA_DIR/secrets_key` (mode 0600), so stored secrets survive restarts.
 *
 * @throws {Error} in production without `SECRETS_KEY`: call this only when a secret is to be
 * stored or read, so deployments without secrets need no key.
 */
export async function resolveSecretsKey(config: Config, log?: Logger): Promise<string> {
  if (config.secretsKey) return config.secretsKey;
  if (config.environment === "production") {
    throw new Error(
      "Cannot store or read source secrets: SECRETS_KEY is required in production " +
        "(at least 32 random characters, e.g. openssl rand -hex 32)",
    );
  }
  return await developmentSecret(config.dataDir, "secrets_key", { setting: "SECRETS_KEY", log });
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    throw new SecretError("Cannot open secret: not a sealed value");
  }
}

/**
 * The process's box, made on first use ({@link resolveSecretsKey}): deployments that never store
 * a secret need no SECRETS_KEY. A failure (no key in production) is not kept, so the next call
 * tries again.
 */
export function lazySecretBox(config: Config, log?: Logger): () => Promise<SecretBox> {
  let box: Promise<SecretBox> | undefined;
  return () => {
    box ??= resolveSecretsKey(config, log).then((key) => SecretBox.fromKey(key)).catch((err) => {
      box = undefined;
      throw err;
    });
    return box;
  };
}
