/**
 * A development secret kept under DATA_DIR: generated once (32 random bytes, hex), written with
 * mode 0600 and linked into place so two processes starting at once keep one value, and read back
 * on every later start. What `SECRETS_KEY` (and `JWT_SECRET`) fall back to outside production.
 */
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";

export interface DevelopmentSecretOptions {
  /** The setting it stands in for, named in the warning logged when it is generated. */
  setting: string;
  /** @default {none} */
  log?: Logger;
}

/** The secret in `dataDir/fileName`, generated there first when missing or too short. */
export async function developmentSecret(
  dataDir: string,
  fileName: string,
  options: DevelopmentSecretOptions,
): Promise<string> {
  const path = join(dataDir, fileName);
  try {
    const existing = (await Deno.readTextFile(path)).trim();
    if (existing.length >= 32) return existing;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const secret = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  // Written whole under a name of its own, then linked into place: the link appears with the
  // whole secret in it, or fails because another process linked first (a file created with
  // `createNew` and then written could be read empty in between).
  const staged = `${path}.${crypto.randomUUID()}`;
  await Deno.writeTextFile(staged, secret + "\n", { createNew: true, mode: 0o600 });
  try {
    await Deno.link(staged, path);
    options.log?.warn(`${options.setting} is not set: generated a development key`, { path });
    return secret;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return (await Deno.readTextFile(path)).trim();
    throw err;
  } finally {
    await Deno.remove(staged).catch(() => {});
  }
}
