import assert from "node:assert/strict";
import { loadConfig } from "../config/config.ts";
import { resolveSecretsKey, SecretBox, SecretError } from "./secret_box.ts";

const KEY = "0123456789abcdef0123456789abcdef";
const CONTEXT = "collection_sources/7d0a/token";

Deno.test("SecretBox seals a token that only the same key and context open", async () => {
  const box = await SecretBox.fromKey(KEY);
  const sealed = await box.seal("ghp_secret-token", CONTEXT);
  assert.ok(!sealed.includes("ghp_secret-token"));
  assert.match(sealed, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(await box.open(sealed, CONTEXT), "ghp_secret-token");
  // A fresh nonce each time: sealing twice never gives the same value.
  assert.notEqual(await box.seal("ghp_secret-token", CONTEXT), sealed);
  // Another process with the same key opens it.
  assert.equal(await (await SecretBox.fromKey(KEY)).open(sealed, CONTEXT), "ghp_secret-token");
});

Deno.test("SecretBox refuses another key, another context, an altered value and garbage", async () => {
  const box = await SecretBox.fromKey(KEY);
  const sealed = await box.seal("ghp_secret-token", CONTEXT);
  const other = await SecretBox.fromKey("f".repeat(32));
  await assert.rejects(other.open(sealed, CONTEXT), (err: unknown) => {
    assert.ok(err instanceof SecretError);
    assert.match(err.message, /another SECRETS_KEY/);
    return true;
  });
  await assert.rejects(box.open(sealed, "collection_sources/other/token"), SecretError);
  const parts = sealed.split(".");
  const data = parts[3]!;
  const flipped = (data[0] === "A" ? "B" : "A") + data.slice(1);
  await assert.rejects(box.open([...parts.slice(0, 3), flipped].join("."), CONTEXT), SecretError);
  for (const bad of ["", "plain", "v2.a.b.c", `v1.${box.keyId}.!!.??`]) {
    await assert.rejects(box.open(bad, CONTEXT), SecretError, bad);
  }
  for (const err of [await box.open(sealed, "x").catch((e) => e)]) {
    assert.ok(!String(err.message).includes("ghp_secret-token"));
  }
});

Deno.test("SecretBox.fromKey() refuses a key shorter than 32 characters", async () => {
  await assert.rejects(SecretBox.fromKey("short"), RangeError);
});

Deno.test("resolveSecretsKey() generates one development key under DATA_DIR and keeps it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = loadConfig({ DATA_DIR: dir });
    const [a, b] = await Promise.all([resolveSecretsKey(config), resolveSecretsKey(config)]);
    assert.equal(a, b);
    assert.equal(await resolveSecretsKey(config), a);
    assert.ok(a.length >= 32);
    assert.equal((await Deno.stat(`${dir}/secrets_key`)).mode! & 0o777, 0o600);
    assert.equal(await resolveSecretsKey(loadConfig({ DATA_DIR: dir, SECRETS_KEY: KEY })), KEY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveSecretsKey() refuses to generate a key in production", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = loadConfig({
      DATA_DIR: dir,
      ENVIRONMENT: "production",
      JWT_SECRET: "x".repeat(40),
      DOCUMENT_ROOTS: dir,
    });
    await assert.rejects(resolveSecretsKey(config), /SECRETS_KEY is required in production/);
    await assert.rejects(Deno.stat(`${dir}/secrets_key`), Deno.errors.NotFound);
    assert.equal(await resolveSecretsKey({ ...config, secretsKey: KEY }), KEY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
