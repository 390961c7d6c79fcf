/**
 * A worker process SIGKILLed in the middle of an indexing operation: another worker process
 * takes the job over and finishes it; afterwards points, chunk rows and the documents' chunk
 * counts agree, every point has exactly one chunk row (no duplicates), and the metadata counts
 * what the operation did across both attempts. Metadata in a server schema, vectors in a
 * pglite-server both processes share.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  connectPostgres,
  dispatchOperation,
  ModelRegistry,
  type OperationRow,
  PgvectorStore,
  QueueClient,
  resolveSourcePath,
} from "@semantik/shared";
import { type CollectionDeps, createCollection } from "../api/collections/collections.ts";
import {
  createTestDb,
  createTestRedis,
  OPERATION_MS,
  TINY_MODEL_NAME,
  waitFor,
  writeTinyModel,
} from "@semantik/shared/testing";
import { startPgliteServer } from "./helpers/pglite_server.ts";
import { type Proc, spawnDeno } from "./helpers/process.ts";
import { countsOf, waitForOperation, writeFiles } from "./indexing_env.ts";

const WORKER = new URL("./procs/indexing_worker.ts", import.meta.url).pathname;
const FILES = 240;

Deno.test("a worker SIGKILLed mid-operation: another finishes it, counts agree, no duplicate points", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-kill-" }));
  const root = join(dir, "docs");
  const modelsDir = join(dir, "models");
  await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")), { maxTokens: 256 });
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) {
    files[`d${String(i).padStart(3, "0")}.txt`] = Array.from(
      { length: 6 },
      (_, p) => `Document ${i} paragraph ${p}: notes on item ${i * 7 + p} and its neighbours.`,
    ).join("\n\n");
  }
  await writeFiles(root, files);
  const server = await startPgliteServer();
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  const vectorDb = connectPostgres(server.url, { max: 2 });
  const vectors = new PgvectorStore(vectorDb);
  const models = new ModelRegistry({ modelsDir, device: "cpu" });
  const env = {
    DATABASE_URL: t.url!,
    VECTOR_DATABASE_URL: server.url,
    REDIS_URL: r.url,
    REDIS_PREFIX: r.prefix,
    MODELS_DIR: modelsDir,
    DEFAULT_EMBEDDING_MODEL: TINY_MODEL_NAME,
    DOCUMENT_ROOTS: root,
    DATA_DIR: join(dir, "data"),
    EMBEDDING_DEVICE: "cpu",
    LOG_LEVEL: "warn",
    LEASE_MS: "1500",
    BATCH_DELAY_MS: "400",
    WORKER_SHUTDOWN_TIMEOUT_S: "2",
  };
  const procs: Proc[] = [];
  try {
    // The first worker stops admitting model batches after a few: it is mid-operation when
    // killed, whatever the machine's speed.
    const first = spawnDeno(WORKER, { env: { ...env, PAUSE_AFTER_BATCHES: "2" } });
    procs.push(first);
    await first.waitForLine(/^ready$/);
    const [user] = await t.db.query<{ id: string }>(
      "insert into users (id, username, password_hash) values ($1, 'u', 'x') returning id",
      [crypto.randomUUID()],
    );
    const queues = new QueueClient(r.redis, { prefix: r.prefix });
    const deps: CollectionDeps = {
      db: t.db,
      defaultEmbeddingModel: TINY_MODEL_NAME,
      documentRoots: [root],
      models,
      resolveSourcePath,
      dispatch: (op) => dispatchOperation(queues, op).then(() => {}),
    };
    const { collection, operation } = await createCollection(deps, {
      userId: user!.id,
      input: {
        name: "killed",
        source: { type: "directory", path: root },
      },
    });
    const completedDocs = async () =>
      (await t.db.query<{ n: number }>(
        "select count(*)::int as n from documents where collection_id = $1 and status = 'completed'",
        [collection.id],
      ))[0]!.n;
    await waitFor(
      "the first worker to record some documents",
      async () => (await completedDocs()) > 0,
      {
        timeoutMs: OPERATION_MS,
      },
    );
    const second = spawnDeno(WORKER, { env: { ...env, BATCH_DELAY_MS: "0" } });
    procs.push(second);
    await second.waitForLine(/^ready$/);
    first.child.kill("SIGKILL");
    await first.status;
    const before = await completedDocs();
    console.log(`documents completed by the first worker: ${before}`);
    assert.ok(before < FILES, `the first worker finished everything (${before}) before the kill`);

    const done: OperationRow = await waitForOperation(t.db, operation!.id, 180_000);
    assert.equal(done.status, "completed", `${done.error_message}\n${second.lines.join("\n")}`);
    assert.ok(done.attempts >= 2, `attempts: ${done.attempts}`);

    const counts = await countsOf(t.db, vectors, collection.id);
    assert.equal(counts.documents, FILES);
    assert.equal(counts.vectors, counts.chunks);
    assert.equal(counts.chunkCountSum, counts.chunks);
    const m = done.metadata as Record<string, number>;
    assert.equal(m.documents_processed, FILES, "counted across both attempts");
    assert.equal(m.chunks_created, counts.chunks);

    // Exactly one point per chunk row, no strays, no duplicates.
    const physical = await vectors.resolveAlias(`col_${collection.id.replaceAll("-", "")}`);
    const points = await vectorDb.query<{ id: string; document_id: string; chunk_index: number }>(
      `select id::text as id, document_id, chunk_index from vec_${physical} order by id`,
    );
    const chunks = await t.db.query<{ id: string; document_id: string; ordinal: number }>(
      "select id::text as id, document_id::text, ordinal from chunks where collection_id = $1 order by id",
      [collection.id],
    );
    assert.deepEqual(
      points.map((p) => [p.id, p.document_id, p.chunk_index]),
      chunks.map((c) => [c.id, c.document_id, c.ordinal]),
    );
    const pairs = new Set(points.map((p) => `${p.document_id}:${p.chunk_index}`));
    assert.equal(pairs.size, points.length);
  } finally {
    for (const p of procs) await p.stop("SIGKILL");
    await models.close();
    await vectors.close();
    await vectorDb.close();
    await r.cleanup();
    await t.cleanup();
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
