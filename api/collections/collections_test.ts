import assert from "node:assert/strict";
import { withTestDb } from "@semantik/shared/testing";
import { AppError, type Db, type OperationRow } from "@semantik/shared";
import {
  addSource,
  type CollectionDeps,
  createCollection,
  deleteCollection,
  getCollection,
  listCollections,
  listDocuments,
  reindexCollection,
  removeSource,
  syncCollection,
  updateCollection,
} from "./collections.ts";

function depsFor(db: Db, dispatched: OperationRow[] = []): CollectionDeps {
  return {
    db,
    defaultEmbeddingModel: "test/model",
    documentRoots: ["/docs"],
    models: {
      resolve(name) {
        if (name !== "test/model" && name !== "test/big") {
          return Promise.reject(new AppError("unknown_model", `Unknown embedding model: ${name}`));
        }
        return Promise.resolve({ dimension: name === "test/big" ? 768 : 384, maxChunkTokens: 254 });
      },
    },
    resolveSourcePath(path) {
      if (!path.startsWith("/docs/")) {
        return Promise.reject(
          new AppError("path_not_allowed", `Path ${path} is outside the roots`),
        );
      }
      return Promise.resolve(path);
    },
    dispatch(op) {
      dispatched.push(op);
      return Promise.resolve();
    },
    countVectors: () => Promise.resolve(7),
  };
}

async function user(db: Db, name = "alice"): Promise<string> {
  const id = crypto.randomUUID();
  await db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
    id,
    name,
  ]);
  return id;
}

const isCode = (code: string) => (e: unknown) => e instanceof AppError && e.code === code;

// Every domain statement runs on both drivers (the server and embedded PGlite).
for (const driver of ["postgres", "pglite"] as const) {
  Deno.test(`[${driver}] createCollection() with a source starts and dispatches an index operation`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const sent: OperationRow[] = [];
      const deps = depsFor(db, sent);
      const alice = await user(db);
      const { collection, operation } = await createCollection(deps, {
        userId: alice,
        input: {
          name: "docs",
          source: { type: "directory", path: "/docs/a", include: ["**/*.md"] },
        },
      });
      assert.equal(collection.status, "pending");
      assert.equal(collection.embedding_model, "test/model");
      assert.equal(collection.vector_dim, 384);
      assert.equal(collection.chunk_size, 200);
      assert.equal(collection.chunk_overlap, 40);
      assert.equal(collection.sync_mode, "one_time");
      assert.equal(collection.sync_interval_minutes, 60);
      assert.equal(collection.vector_count, 7);
      assert.deepEqual(
        collection.sources.map((
          s,
        ) => [s.type === "directory" ? s.path : null, s.include, s.exclude]),
        [
          ["/docs/a", ["**/*.md"], []],
        ],
      );
      assert.equal(operation?.type, "index");
      assert.equal(operation?.status, "pending");
      assert.deepEqual(sent.map((o) => o.id), [operation!.id]);
      assert.equal(sent[0]!.config.source_id, collection.sources[0]!.id);

      const bare = await createCollection(deps, { userId: alice, input: { name: "empty" } });
      assert.equal(bare.operation, null);
      assert.equal(bare.collection.status, "ready");
    });
  });

  Deno.test(`[${driver}] createCollection() refuses bad models, chunk sizes, paths and duplicate names`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const deps = depsFor(db);
      const alice = await user(db);
      await assert.rejects(
        createCollection(deps, {
          userId: alice,
          input: { name: "x", embedding_model: "nope/none" },
        }),
        isCode("unknown_model"),
      );
      await assert.rejects(
        createCollection(deps, { userId: alice, input: { name: "x", chunk_size: 300 } }),
        isCode("chunk_too_large"),
      );
      await assert.rejects(
        createCollection(deps, {
          userId: alice,
          input: { name: "x", chunk_size: 50, chunk_overlap: 50 },
        }),
        isCode("invalid_request"),
      );
      await assert.rejects(
        createCollection(deps, {
          userId: alice,
          input: { name: "x", source: { type: "directory", path: "/etc" } },
        }),
        isCode("path_not_allowed"),
      );
      await createCollection(deps, { userId: alice, input: { name: "x" } });
      await assert.rejects(
        createCollection(deps, { userId: alice, input: { name: "x" } }),
        isCode("conflict"),
      );
      // Another user may use the same name.
      await createCollection(deps, { userId: await user(db, "bob"), input: { name: "x" } });
      const [n] = await db.query<{ n: number }>("select count(*) as n from collections");
      assert.equal(n!.n, 2);
    });
  });

  Deno.test(`[${driver}] one write operation per collection: the second is a conflict naming the first`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const deps = depsFor(db);
      const alice = await user(db);
      const { collection, operation } = await createCollection(deps, {
        userId: alice,
        input: {
          name: "docs",
          source: { type: "directory", path: "/docs/a" },
        },
      });
      const results = await Promise.allSettled([
        syncCollection(deps, { userId: alice, collectionId: collection.id }),
        reindexCollection(deps, {
          userId: alice,
          collectionId: collection.id,
          input: { chunk_size: 100 },
        }),
        deleteCollection(deps, { userId: alice, collectionId: collection.id }),
      ]);
      for (const r of results) {
        assert.equal(r.status, "rejected");
        assert.ok(isCode("conflict")((r as PromiseRejectedResult).reason));
      }
      assert.match((results[0] as PromiseRejectedResult).reason.message, new RegExp(operation!.id));
      await db.query("update operations set status = 'completed' where id = $1", [operation!.id]);
      const [a, b] = await Promise.allSettled([
        syncCollection(deps, { userId: alice, collectionId: collection.id }),
        syncCollection(deps, { userId: alice, collectionId: collection.id }),
      ]);
      assert.equal([a, b].filter((r) => r.status === "fulfilled").length, 1);
    });
  });

  Deno.test(`[${driver}] ownership: another user's collection is 403, a missing one 404`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const deps = depsFor(db);
      const alice = await user(db);
      const bob = await user(db, "bob");
      const { collection } = await createCollection(deps, {
        userId: alice,
        input: { name: "docs" },
      });
      const missing = crypto.randomUUID();
      for (
        const call of [
          (u: string, id: string) => getCollection(deps, { userId: u, collectionId: id }),
          (u: string, id: string) =>
            updateCollection(deps, { userId: u, collectionId: id, patch: { description: "x" } }),
          (u: string, id: string) => deleteCollection(deps, { userId: u, collectionId: id }),
          (u: string, id: string) => syncCollection(deps, { userId: u, collectionId: id }),
          (u: string, id: string) =>
            reindexCollection(deps, { userId: u, collectionId: id, input: {} }),
          (u: string, id: string) =>
            addSource(deps, {
              userId: u,
              collectionId: id,
              source: { type: "directory", path: "/docs/b" },
            }),
          (u: string, id: string) =>
            removeSource(deps, { userId: u, collectionId: id, sourceId: crypto.randomUUID() }),
          (u: string, id: string) =>
            listDocuments(deps, { userId: u, collectionId: id, limit: 10 }),
        ]
      ) {
        await assert.rejects(call(bob, collection.id), isCode("forbidden"));
        await assert.rejects(call(alice, missing), isCode("not_found"));
      }
    });
  });

  Deno.test(`[${driver}] listCollections() pages with a cursor, newest first, only the user's own`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const deps = depsFor(db);
      const alice = await user(db);
      await createCollection(deps, { userId: await user(db, "bob"), input: { name: "bobs" } });
      for (let i = 0; i < 5; i++) {
        await createCollection(deps, { userId: alice, input: { name: `c${i}` } });
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await listCollections(deps, { userId: alice, limit: 2, cursor });
        assert.ok(page.collections.length <= 2);
        seen.push(...page.collections.map((c) => c.name));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      assert.deepEqual(seen, ["c4", "c3", "c2", "c1", "c0"]);
      await assert.rejects(
        listCollections(deps, { userId: alice, limit: 2, cursor: "bogus" }),
        isCode("invalid_request"),
      );
    });
  });

  Deno.test(`[${driver}] updateCollection() renames and schedules continuous sync`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const deps = depsFor(db);
      const alice = await user(db);
      const { collection } = await createCollection(deps, {
        userId: alice,
        input: { name: "docs" },
      });
      const updated = await updateCollection(deps, {
        userId: alice,
        collectionId: collection.id,
        patch: {
          name: "renamed",
          sync_mode: "continuous",
          sync_interval_minutes: 5,
        },
      });
      assert.equal(updated.name, "renamed");
      assert.equal(updated.sync_mode, "continuous");
      const [row] = await db.query<{ next_sync_at: Date | null }>(
        "select next_sync_at from collections where id = $1",
        [collection.id],
      );
      assert.ok(row!.next_sync_at instanceof Date);
      await createCollection(deps, { userId: alice, input: { name: "other" } });
      await assert.rejects(
        updateCollection(deps, {
          userId: alice,
          collectionId: collection.id,
          patch: { name: "other" },
        }),
        isCode("conflict"),
      );
    });
  });

  Deno.test(`[${driver}] addSource(), removeSource() and deleteCollection() record their operations`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const sent: OperationRow[] = [];
      const deps = depsFor(db, sent);
      const alice = await user(db);
      const { collection } = await createCollection(deps, {
        userId: alice,
        input: { name: "docs" },
      });
      const { source, operation } = await addSource(deps, {
        userId: alice,
        collectionId: collection.id,
        source: {
          type: "directory",
          path: "/docs/b",
          exclude: ["*.tmp"],
        },
      });
      assert.equal(operation.type, "append");
      assert.deepEqual(source.exclude, ["*.tmp"]);
      await db.query("update operations set status = 'completed'");
      await assert.rejects(
        addSource(deps, {
          userId: alice,
          collectionId: collection.id,
          source: { type: "directory", path: "/docs/b" },
        }),
        isCode("conflict"),
      );
      await assert.rejects(
        removeSource(deps, {
          userId: alice,
          collectionId: collection.id,
          sourceId: crypto.randomUUID(),
        }),
        isCode("not_found"),
      );
      const rm = await removeSource(deps, {
        userId: alice,
        collectionId: collection.id,
        sourceId: source.id,
      });
      assert.equal(rm.type, "remove_source");
      await db.query("update operations set status = 'completed'");
      const del = await deleteCollection(deps, { userId: alice, collectionId: collection.id });
      assert.equal(del.type, "delete");
      assert.equal(
        (await getCollection(deps, { userId: alice, collectionId: collection.id })).status,
        "deleting",
      );
      await db.query("update operations set status = 'completed'");
      await assert.rejects(
        syncCollection(deps, { userId: alice, collectionId: collection.id }),
        isCode("conflict"),
      );
      assert.deepEqual(sent.map((o) => o.type), ["append", "remove_source", "delete"]);
    });
  });

  Deno.test(`[${driver}] a failed dispatch leaves the operation pending for the reconciler`, async () => {
    await withTestDb(driver, async ({ db }) => {
      const deps = { ...depsFor(db), dispatch: () => Promise.reject(new Error("redis down")) };
      const alice = await user(db);
      const { operation } = await createCollection(deps, {
        userId: alice,
        input: {
          name: "docs",
          source: { type: "directory", path: "/docs/a" },
        },
      });
      const [row] = await db.query<{ status: string }>(
        "select status from operations where id = $1",
        [
          operation!.id,
        ],
      );
      assert.equal(row!.status, "pending");
    });
  });
}
