import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AppError,
  createCollectionSchema,
  resolveSourcePath,
  SecretBox,
  sourceSchema,
  sourceTokenContext,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import { prepareSource } from "./prepare_source.ts";

const KEY = "k".repeat(40);

async function withRoot(fn: (root: string, deps: CollectionDeps) => Promise<void>) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "prepare_source_test_" }));
  try {
    const deps = {
      documentRoots: [join(root, "docs")],
      resolveSourcePath,
      secretBox: () => SecretBox.fromKey(KEY),
      resolveHost: (host: string) =>
        Promise.resolve(host === "intranet.example" ? ["10.1.2.3"] : ["93.184.216.34"]),
    } as unknown as CollectionDeps;
    await Deno.mkdir(join(root, "docs", "repo"), { recursive: true });
    await Deno.mkdir(join(root, "outside"), { recursive: true });
    await fn(root, deps);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const isAppError = (code: string, pattern: RegExp) => (err: unknown) =>
  err instanceof AppError && err.code === code &&
  err.status === (code === "invalid_request" ? 400 : code === "unavailable" ? 503 : 422) &&
  pattern.test(err.message);

Deno.test("prepareSource(): a web host on a private network is a 422 unless SOURCE_ALLOW_PRIVATE_NETWORKS", async () => {
  await withRoot(async (_root, deps) => {
    for (
      const url of ["http://127.0.0.1:8080/", "http://[::1]/docs/", "https://intranet.example/"]
    ) {
      await assert.rejects(
        prepareSource(deps, { type: "web", url }),
        isAppError(
          "address_not_allowed",
          /private-network address .*SOURCE_ALLOW_PRIVATE_NETWORKS/,
        ),
        url,
      );
    }
    const ok = await prepareSource(deps, { type: "web", url: "https://docs.example/guide/" });
    assert.deepEqual([ok.realPath, ok.sealedToken], [null, null]);
    const allowed = await prepareSource(
      { ...deps, allowPrivateNetworks: true },
      { type: "web", url: "http://127.0.0.1:8080/" },
    );
    assert.equal(allowed.source.type, "web");
    await assert.rejects(
      prepareSource(
        { ...deps, resolveHost: () => Promise.reject(new Error("NXDOMAIN")) },
        { type: "web", url: "https://nowhere.example/" },
      ),
      isAppError("invalid_request", /Cannot resolve the web source's host nowhere\.example/),
    );
  });
});

Deno.test("prepareSource(): a file:// repository must lie inside DOCUMENT_ROOTS; a token is sealed for its row, never kept in clear", async () => {
  await withRoot(async (root, deps) => {
    await assert.rejects(
      prepareSource(deps, { type: "git", url: `file://${join(root, "outside")}` }),
      isAppError("path_not_allowed", /./),
    );
    const plain = await prepareSource(deps, {
      type: "git",
      url: `file://${join(root, "docs", "repo")}`,
    });
    assert.equal(plain.sealedToken, null);

    const token = "ghp_prepare_source_secret";
    const p = await prepareSource(deps, {
      type: "git",
      url: "https://git.example/team/docs.git",
      token,
    });
    assert.ok(p.sealedToken && !p.sealedToken.includes(token));
    const box = await SecretBox.fromKey(KEY);
    assert.equal(await box.open(p.sealedToken, sourceTokenContext(p.id)), token);
    // Bound to its row: it does not open for another source.
    await assert.rejects(box.open(p.sealedToken, sourceTokenContext(crypto.randomUUID())));

    // No key to seal with (production without SECRETS_KEY): 503 naming the setting.
    await assert.rejects(
      prepareSource(
        {
          ...deps,
          secretBox: () => Promise.reject(new Error("SECRETS_KEY is required in production")),
        },
        { type: "git", url: "https://git.example/team/docs.git", token },
      ),
      (err: unknown) =>
        isAppError("unavailable", /SECRETS_KEY is required/)(err) &&
        !(err as Error).message.includes(token),
    );
  });
});

Deno.test("sourceSchema: the three types with their fields; unknown fields, bad URLs and credentials in URLs refused", () => {
  const ok = [
    { type: "directory", path: "/docs/a" },
    { type: "git", url: "https://git.example/x.git", ref: "main", include: ["*.md"], token: "t" },
    { type: "git", url: "ssh://git@git.example/x.git" },
    { type: "git", url: "file:///docs/repo" },
    { type: "web", url: "https://docs.example/", max_pages: 10, max_depth: 2 },
  ];
  for (const s of ok) assert.ok(sourceSchema.safeParse(s).success, JSON.stringify(s));
  const bad = [
    { type: "git", url: "http://git.example/x.git" },
    { type: "git", url: "https://user:pw@git.example/x.git" },
    { type: "git", url: "git@git.example:x.git" },
    { type: "git", url: "https://git.example/x.git", path: "/docs" },
    { type: "web", url: "ftp://docs.example/" },
    { type: "web", url: "https://docs.example/", max_pages: 0 },
    { type: "web", url: "https://docs.example/", token: "t" },
    { type: "svn", url: "https://svn.example/" },
  ];
  for (const s of bad) assert.ok(!sourceSchema.safeParse(s).success, JSON.stringify(s));
  assert.ok(
    createCollectionSchema.safeParse({
      name: "n",
      source: { type: "web", url: "https://docs.example/" },
    }).success,
  );
});
