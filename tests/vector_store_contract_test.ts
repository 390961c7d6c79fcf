/**
 * One contract for every vector store: pgvector on an in-process PGlite, pgvector on a
 * pglite-server (over the wire, several connections), Qdrant through the Qdrant fake, and a real
 * Qdrant when QDRANT_URL is set (QDRANT_API_KEY optional). The last test loads the same points
 * into every store and checks that they return the same hits with scores within 1e-5.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Db } from "../shared/db/db.ts";
import { openPglite } from "../shared/db/pglite_driver.ts";
import { connectPostgres } from "../shared/db/postgres_driver.ts";
import { configureLogging } from "../shared/log/logger.ts";
import { CollectionNotFoundError, DimensionMismatchError } from "../shared/vector/errors.ts";
import { PgvectorStore } from "../shared/vector/pgvector_store.ts";
import { pointId } from "../shared/vector/point_id.ts";
import { QdrantStore } from "../shared/vector/qdrant_store.ts";
import { rrfFuse } from "../shared/vector/fusion.ts";
import { matchesUriPrefix } from "../shared/vector/uri_prefix.ts";
import type {
  VectorHit,
  VectorPoint,
  VectorSearchOptions,
  VectorStore,
} from "../shared/vector/vector_store.ts";
import { startQdrantFake } from "./fakes/qdrant_fake.ts";
import { startPgliteServer } from "./helpers/pglite_server.ts";

configureLogging({ level: "error" });

const ROOT = join(fileURLToPath(import.meta.url), "..", "..");
const DIM = 8;
const TOLERANCE = 1e-5;
const QDRANT_URL = Deno.env.get("QDRANT_URL");

interface Opened {
  store: VectorStore;
  /** Another store on the same backend through its own connections, as another process has. */
  other(): VectorStore;
  /** How a subprocess reaches the backend; undefined for in-process PGlite. */
  remote?: { kind: "pgvector" | "qdrant"; url: string; apiKey?: string };
  cleanup(): Promise<void>;
}

interface Target {
  name: string;
  ignore?: boolean;
  open(): Promise<Opened>;
}

const TARGETS: Target[] = [
  {
    name: "pgvector on PGlite",
    async open() {
      const db = await openPglite();
      return {
        store: new PgvectorStore(db),
        other: () => new PgvectorStore(db),
        cleanup: () => db.close(),
      };
    },
  },
  {
    name: "pgvector on a pglite-server",
    async open() {
      const server = await startPgliteServer();
      const dbs: Db[] = [];
      const connect = () => {
        const db = connectPostgres(server.url, { max: 4 });
        dbs.push(db);
        return db;
      };
      return {
        store: new PgvectorStore(connect()),
        other: () => new PgvectorStore(connect()),
        remote: { kind: "pgvector", url: server.url },
        async cleanup() {
          for (const db of dbs) await db.close();
          await server.stop();
        },
      };
    },
  },
  {
    name: "qdrant on the Qdrant fake",
    async open() {
      const fake = await startQdrantFake();
      const make = () => new QdrantStore({ url: fake.url });
      return {
        store: make(),
        other: make,
        remote: { kind: "qdrant", url: fake.url },
        cleanup: () => fake.close(),
      };
    },
  },
  {
    name: "qdrant on the real Qdrant at QDRANT_URL",
    ignore: !QDRANT_URL,
    open() {
      const url = QDRANT_URL!;
      const apiKey = Deno.env.get("QDRANT_API_KEY") || undefined;
      const make = () => new QdrantStore({ url, apiKey });
      const store = make();
      return Promise.resolve({
        store,
        other: make,
        remote: { kind: "qdrant", url, apiKey },
        // Each test drops what it made; nothing else to release.
        cleanup: () => store.close(),
      });
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Data: deterministic vectors, three documents under two directories.

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomVector(next: () => number): number[] {
  return Array.from({ length: DIM }, () => next() * 2 - 1);
}

const DOCS = [
  { id: "doc-a", uri: "/data/x/a.txt", chunks: 6 },
  { id: "doc-b", uri: "/data/x/sub/b.md", chunks: 5 },
  { id: "doc-c", uri: "/data2/c.txt", chunks: 4 },
  { id: "doc-d", uri: "/data/y/d.pdf", chunks: 5 },
];

function makePoints(
  collectionId: string,
  seed = 42,
  extra: Record<string, unknown> = {},
): VectorPoint[] {
  const next = rng(seed);
  return DOCS.flatMap((d) =>
    Array.from({ length: d.chunks }, (_, i) => ({
      id: pointId(collectionId, { uri: d.uri, ordinal: i }),
      vector: Float32Array.from(randomVector(next)),
      payload: {
        collection_id: collectionId,
        document_id: d.id,
        uri: d.uri,
        chunk_index: i,
        text: `${d.id} chunk ${i}`,
        ...extra,
      },
    }))
  );
}

/** Exact cosine similarity of the float32 values the stores keep, in float64. */
function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.fround(a[i]!), y = Math.fround(b[i]!);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

function reference(
  points: VectorPoint[],
  query: number[],
  o: VectorSearchOptions,
): { id: string; score: number }[] {
  return points
    .filter((p) => !o.documentIds || o.documentIds.includes(p.payload.document_id))
    .filter((p) => o.uriPrefix === undefined || matchesUriPrefix(p.payload.uri, o.uriPrefix))
    .map((p) => ({ id: p.id, score: cosine(p.vector, query) }))
    .filter((h) => o.scoreThreshold === undefined || h.score >= o.scoreThreshold)
    .sort((a, b) => b.score - a.score)
    .slice(0, o.k);
}

function assertHits(actual: VectorHit[], expected: { id: string; score: number }[], what: string) {
  assert.deepEqual(actual.map((h) => h.id), expected.map((h) => h.id), `${what}: ids`);
  actual.forEach((h, i) =>
    assert.ok(
      Math.abs(h.score - expected[i]!.score) < TOLERANCE,
      `${what}: score of ${h.id} is ${h.score}, expected ${expected[i]!.score}`,
    )
  );
}

let counter = 0;
const RUN = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
/** A fresh collection name, unique across runs so a shared real Qdrant never collides. */
function fresh(prefix = "col"): string {
  return `${prefix}_${RUN}_${++counter}`;
}

/** Runs `fn` with fresh names and drops them afterwards, whatever happens. */
async function withNames(store: VectorStore, n: number, fn: (...names: string[]) => Promise<void>) {
  const names = Array.from({ length: n }, () => fresh());
  try {
    await fn(...names);
  } finally {
    for (const name of names) {
      await store.deleteAlias(name).catch(() => {});
      await store.drop(name).catch(() => {});
    }
  }
}

/** Chunks whose text names identifiers, in several spellings, and one without text. */
const TEXTS: { doc: string; uri: string; text?: string }[] = [
  { doc: "doc-a", uri: "/data/x/a.txt", text: "COPY takes FORCE_NOT_NULL to read empty strings." },
  { doc: "doc-a", uri: "/data/x/a.txt", text: "Values that are not null are kept; force them." },
  {
    doc: "doc-b",
    uri: "/data/x/sub/b.md",
    text: "LISTEN waits; pg_notify(channel, payload) wakes it.",
  },
  { doc: "doc-b", uri: "/data/x/sub/b.md", text: "Notify the team when the deploy is done." },
  {
    doc: "doc-c",
    uri: "/data2/c.txt",
    text: "Workers claim jobs: SELECT ... FOR UPDATE SKIP LOCKED.",
  },
  { doc: "doc-c", uri: "/data2/c.txt", text: "Call getUserName() to read the account's name." },
  {
    doc: "doc-d",
    uri: "/data/y/d.pdf",
    text: "Skip this section if the file is locked by another user.",
  },
  { doc: "doc-d", uri: "/data/y/d.pdf" },
];

function lexicalPoints(collectionId: string, seed = 5): VectorPoint[] {
  const next = rng(seed);
  return TEXTS.map((t, i) => ({
    id: pointId(collectionId, { uri: t.uri, ordinal: i }),
    vector: Float32Array.from(randomVector(next)),
    payload: { collection_id: collectionId, document_id: t.doc, uri: t.uri, chunk_index: i },
    ...(t.text === undefined ? {} : { text: t.text }),
  }));
}

/** The chunk index (position in TEXTS) of each hit. */
const chunkIndexes = (hits: VectorHit[]) => hits.map((h) => h.payload.chunk_index);

// ---------------------------------------------------------------------------------------------
// The contract.

type Step = (o: Opened) => Promise<void>;

const CONTRACT: Record<string, Step> = {
  "lexicalSearch() finds identifiers whole and by their parts, best match first": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      await store.upsert(name, lexicalPoints("lex"));
      const top = async (query: string, o: VectorSearchOptions = { k: 10 }) => {
        const hits = await store.lexicalSearch(name, query, o);
        for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1]!.score >= hits[i]!.score);
        assert.ok(hits.every((h) => h.score > 0), `${query}: positive scores`);
        return chunkIndexes(hits);
      };
      // The identifier whole beats chunks holding only some of its parts.
      assert.equal((await top("FORCE_NOT_NULL"))[0], 0);
      assert.equal((await top("pg_notify"))[0], 2);
      assert.equal((await top("SKIP LOCKED"))[0], 4);
      assert.deepEqual((await top("getUserName")).slice(0, 1), [5]);
      // Parts alone still find the identifier.
      assert.ok((await top("notify")).includes(2));
      assert.ok((await top("user name")).includes(5));
      // Case and punctuation do not matter; stopwords do not match everything.
      assert.equal((await top("How do I use force_not_null?"))[0], 0);
      assert.deepEqual(await top("the kubernetes"), []);
      // A query of stopwords only keeps them.
      assert.deepEqual((await top("the")).sort(), [3, 5, 6]);
      // Filters hold; a point without text is never found; k holds.
      assert.deepEqual(await top("skip", { k: 10, documentIds: ["doc-d"] }), [6]);
      assert.deepEqual(
        (await top("notify skip locked", { k: 10, uriPrefix: "/data/x" })).sort(),
        [2, 3],
      );
      assert.deepEqual(await top("skip", { k: 10, documentIds: [] }), []);
      assert.equal((await top("null not force skip notify name", { k: 2 })).length, 2);
      assert.deepEqual(await store.lexicalSearch(fresh(), "pg_notify", { k: 5 }), []);
    }),

  "setLexical() indexes existing points' text without touching vectors or payloads": ({ store }) =>
    withNames(store, 2, async (name, withText) => {
      await store.ensureCollection(name, DIM);
      await store.ensureCollection(withText, DIM);
      const points = lexicalPoints("backfill");
      // Written before lexical retrieval: vectors and payloads only.
      await store.upsert(name, points.map(({ text: _text, ...p }) => p));
      await store.upsert(withText, points);
      assert.deepEqual(await store.lexicalSearch(name, "pg_notify", { k: 5 }), []);
      const query = Array.from(points[3]!.vector);
      const before = await store.search(name, query, { k: 8 });
      const texts = points.filter((p) => p.text !== undefined).map((p) => ({
        id: p.id,
        text: p.text!,
      }));
      // An id that is not in the collection is skipped, not an error.
      const stranger = {
        id: pointId("backfill", { uri: "/nowhere.txt", ordinal: 0 }),
        text: "pg_notify",
      };
      await store.setLexical(name, [...texts, stranger]);
      assert.equal(await store.count(name), points.length);
      // The same lexical answers as points upserted with their text, scores included.
      for (const q of ["pg_notify", "FORCE_NOT_NULL", "skip locked", "user name"]) {
        const got = await store.lexicalSearch(name, q, { k: 10 });
        const want = await store.lexicalSearch(withText, q, { k: 10 });
        assert.ok(want.length > 0, q);
        assert.deepEqual(got.map((h) => h.id), want.map((h) => h.id), q);
        got.forEach((h, i) => assert.ok(Math.abs(h.score - want[i]!.score) < TOLERANCE, q));
      }
      // Dense vectors and payloads are as they were.
      const after = await store.search(name, query, { k: 8 });
      assert.deepEqual(after.map((h) => [h.id, h.payload]), before.map((h) => [h.id, h.payload]));
      after.forEach((h, i) => assert.ok(Math.abs(h.score - before[i]!.score) < TOLERANCE));
      const hybrid = await store.hybridSearch(name, query, "pg_notify", { k: 8 });
      assert.ok(hybrid.some((h) => h.payload.chunk_index === 2 && h.lexical !== null));
      await store.setLexical(name, []);
      await assert.rejects(
        () => store.setLexical(fresh(), texts),
        (err) => err instanceof CollectionNotFoundError,
      );
      await assert.rejects(
        () => store.setLexical(name, [{ id: "not-a-uuid", text: "x" }]),
        TypeError,
      );
    }),

  "hybridSearch() fuses the dense and lexical lists by reciprocal rank": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const points = lexicalPoints("hyb");
      await store.upsert(name, points);
      const query = Array.from(points[7]!.vector); // the chunk without text, nearest by vector
      for (const o of [{ k: 5, rrfK: 60 }, { k: 3, rrfK: 1, depth: 6 }, { k: 8, rrfK: 10 }]) {
        const depth = o.depth ?? 50;
        const hits = await store.hybridSearch(name, query, "pg_notify SKIP LOCKED", o);
        const dense = await store.search(name, query, { k: depth });
        const lexical = await store.lexicalSearch(name, "pg_notify SKIP LOCKED", { k: depth });
        const key = (h: VectorHit) => h.id;
        const expected = rrfFuse([{ items: dense, key }, { items: lexical, key }], o.rrfK)
          .slice(0, o.k);
        assert.deepEqual(hits.map((h) => h.id), expected.map((f) => f.key), JSON.stringify(o));
        hits.forEach((h, i) => {
          const f = expected[i]!;
          assert.ok(Math.abs(h.score - f.score) < TOLERANCE, `fused score of ${h.id}`);
          assert.equal(h.dense === null, f.from[0] === undefined);
          assert.equal(h.lexical === null, f.from[1] === undefined);
          if (h.dense !== null) assert.ok(Math.abs(h.dense - f.from[0]!.score) < TOLERANCE);
          if (h.lexical !== null) assert.ok(Math.abs(h.lexical - f.from[1]!.score) < TOLERANCE);
          assert.equal(
            h.payload.chunk_index,
            points.find((p) => p.id === h.id)!.payload.chunk_index,
          );
        });
      }
      // The text-less chunk is found by vector only; the exact terms' chunks by both.
      const hits = await store.hybridSearch(name, query, "pg_notify SKIP LOCKED", { k: 8 });
      const byIndex = new Map(hits.map((h) => [h.payload.chunk_index, h]));
      assert.equal(byIndex.get(7)!.lexical, null);
      assert.ok(byIndex.get(2)!.lexical !== null && byIndex.get(4)!.lexical !== null);
      // Filters apply to both lists.
      const filtered = await store.hybridSearch(name, query, "pg_notify SKIP LOCKED", {
        k: 8,
        documentIds: ["doc-c"],
      });
      assert.deepEqual(chunkIndexes(filtered).sort(), [4, 5]);
      assert.deepEqual(await store.hybridSearch(fresh(), query, "pg_notify", { k: 5 }), []);
    }),

  "ready() reports the store usable": async ({ store }) => {
    assert.deepEqual(await store.ready(), { ok: true });
  },

  "a bulk load answers searches exactly before and after finishBulkLoad; finishing twice is a no-op":
    (
      { store },
    ) =>
      withNames(store, 1, async (name) => {
        await store.ensureCollection(name, DIM, { bulkLoad: true });
        const points = makePoints("bulk");
        await store.upsert(name, points);
        const query = randomVector(rng(9));
        const expected = reference(points, query, { k: 5 });
        assertHits(await store.search(name, query, { k: 5 }), expected, "before finishBulkLoad");
        await store.finishBulkLoad(name);
        await store.finishBulkLoad(name);
        assertHits(await store.search(name, query, { k: 5 }), expected, "after finishBulkLoad");
        assert.equal(await store.count(name), points.length);
        await assert.rejects(
          store.finishBulkLoad(fresh()),
          (err: unknown) => err instanceof CollectionNotFoundError,
        );
      }),

  "ensureCollection() is idempotent and refuses another dimension": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      await store.ensureCollection(name, DIM);
      assert.equal(await store.count(name), 0);
      await assert.rejects(store.ensureCollection(name, DIM + 1), (err: unknown) => {
        assert.ok(err instanceof DimensionMismatchError, String(err));
        assert.equal(err.expected, DIM);
        assert.equal(err.actual, DIM + 1);
        return true;
      });
    }),

  "concurrent ensureCollection() calls from two stores all succeed": ({ store, other }) =>
    withNames(store, 1, async (name) => {
      const second = other();
      try {
        await Promise.all([
          store.ensureCollection(name, DIM),
          second.ensureCollection(name, DIM),
          store.ensureCollection(name, DIM),
          second.ensureCollection(name, DIM),
        ]);
        await second.upsert(name, makePoints("c").slice(0, 2));
        assert.equal(await store.count(name), 2);
      } finally {
        await second.close();
      }
    }),

  "two processes ensuring and writing the same collection both succeed": ({ store, remote }) => {
    if (!remote) return Promise.resolve(); // in-process PGlite has no second process
    return withNames(store, 1, async (name) => {
      const points = makePoints("c");
      const children = [0, 1].map((i) =>
        new Deno.Command(Deno.execPath(), {
          args: ["eval", "--config", join(ROOT, "deno.json"), CHILD_SCRIPT],
          cwd: ROOT,
          env: {
            VS_KIND: remote.kind,
            VS_URL: remote.url,
            VS_API_KEY: remote.apiKey ?? "",
            VS_NAME: name,
            VS_DIM: String(DIM),
            VS_POINTS: JSON.stringify(
              points.slice(i * 5, i * 5 + 5).map((p) => ({ ...p, vector: Array.from(p.vector) })),
            ),
          },
          stdout: "piped",
          stderr: "piped",
        }).output()
      );
      const results = await Promise.all(children);
      for (const r of results) {
        assert.ok(r.success, `child failed: ${new TextDecoder().decode(r.stderr)}`);
      }
      assert.equal(await store.count(name), 10);
    });
  },

  "upserting the same points twice leaves one copy": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const points = makePoints("c");
      await store.upsert(name, points);
      await store.upsert(name, points);
      // The same ids again, with the vectors of another seed: overwritten, not added.
      const moved = makePoints("c", 7, { moved: true });
      await store.upsert(name, moved);
      assert.equal(await store.count(name), points.length);
      const hits = await store.search(name, Array.from(moved[3]!.vector), { k: 100 });
      assert.equal(hits.length, points.length);
      assert.equal(new Set(hits.map((h) => h.id)).size, points.length);
      assert.equal(hits[0]!.id, moved[3]!.id);
      assert.ok(hits.every((h) => h.payload.moved === true));
    }),

  "search() returns exact cosine similarity, best first, at most k": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const points = makePoints("c");
      await store.upsert(name, points);
      const next = rng(99);
      for (let i = 0; i < 5; i++) {
        const q = randomVector(next);
        for (const k of [1, 5, 100]) {
          assertHits(await store.search(name, q, { k }), reference(points, q, { k }), `k=${k}`);
        }
      }
      // A stored vector finds itself with similarity 1.
      const [self] = await store.search(name, points[4]!.vector, { k: 1 });
      assert.equal(self!.id, points[4]!.id);
      assert.ok(Math.abs(self!.score - 1) < TOLERANCE);
      // The opposite direction scores -1.
      const opposite = Array.from(points[4]!.vector, (x) => -x);
      const hits = await store.search(name, opposite, { k: 100 });
      assert.ok(Math.abs(hits.at(-1)!.score + 1) < TOLERANCE);
    }),

  "scoreThreshold keeps exactly the hits at or above it": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const points = makePoints("c");
      await store.upsert(name, points);
      const q = randomVector(rng(5));
      const all = reference(points, q, { k: 100 });
      for (const cut of [0, 3, 10, all.length - 2]) {
        // Halfway between two scores, so float rounding cannot move a hit across it.
        const threshold = (all[cut]!.score + all[cut + 1]!.score) / 2;
        const o = { k: 100, scoreThreshold: threshold };
        const hits = await store.search(name, q, o);
        assert.equal(hits.length, cut + 1, `threshold ${threshold}`);
        assertHits(hits, reference(points, q, o), `threshold ${threshold}`);
      }
      assert.deepEqual(await store.search(name, q, { k: 10, scoreThreshold: 1.5 }), []);
    }),

  "documentIds and uriPrefix filter alone and together": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const points = makePoints("c");
      await store.upsert(name, points);
      const q = randomVector(rng(11));
      const cases: VectorSearchOptions[] = [
        { k: 100, documentIds: ["doc-b"] },
        { k: 3, documentIds: ["doc-a", "doc-c"] },
        { k: 100, documentIds: ["doc-a", "doc-a", "nope"] },
        { k: 100, uriPrefix: "/data" },
        { k: 100, uriPrefix: "/data/" },
        { k: 100, uriPrefix: "/data/x" },
        { k: 100, uriPrefix: "/data/x/sub/b.md" },
        { k: 100, uriPrefix: "/dat" },
        { k: 100, uriPrefix: "/" },
        { k: 100, uriPrefix: "/data", documentIds: ["doc-c", "doc-d"] },
        { k: 2, uriPrefix: "/data/x", scoreThreshold: -0.5 },
      ];
      for (const o of cases) {
        const expected = reference(points, q, o);
        assertHits(await store.search(name, q, o), expected, JSON.stringify(o));
      }
      assert.deepEqual(await store.search(name, q, { k: 10, uriPrefix: "/elsewhere" }), []);
      assert.deepEqual(await store.search(name, q, { k: 10, documentIds: [] }), []);
      assert.deepEqual(await store.search(name, q, { k: 10, documentIds: ["nope"] }), []);
    }),

  "deleteByDocument() and deleteByIds() remove only what they name": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const points = makePoints("c");
      await store.upsert(name, points);
      await store.deleteByDocument(name, ["doc-a", "doc-c"]);
      const left = points.filter((p) => !["doc-a", "doc-c"].includes(p.payload.document_id));
      assert.equal(await store.count(name), left.length);
      const q = randomVector(rng(3));
      assertHits(await store.search(name, q, { k: 100 }), reference(left, q, { k: 100 }), "after");
      await store.deleteByDocument(name, ["doc-a"]);
      await store.deleteByDocument(name, []);
      assert.equal(await store.count(name), left.length);
      await store.deleteByIds(name, [
        left[0]!.id,
        left[1]!.id.toUpperCase(),
        pointId("c", { uri: "/x", ordinal: 9 }),
      ]);
      assert.equal(await store.count(name), left.length - 2);
      const hits = await store.search(name, q, { k: 100 });
      assert.ok(!hits.some((h) => h.id === left[0]!.id || h.id === left[1]!.id));
    }),

  "payloads come back as written, without the store's own fields": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const p = makePoints("c")[0]!;
      p.payload = { ...p.payload, nested: { a: [1, "two", null], b: true }, score_hint: 0.5 };
      await store.upsert(name, [p]);
      const [hit] = await store.search(name, p.vector, { k: 1 });
      assert.equal(hit!.id, p.id);
      assert.deepEqual(hit!.payload, p.payload);
    }),

  "a missing collection: reads are empty, deletes no-ops, upserts throw": ({ store }) => {
    const name = fresh();
    return (async () => {
      assert.equal(await store.count(name), 0);
      assert.deepEqual(await store.search(name, randomVector(rng(1)), { k: 3 }), []);
      await store.deleteByDocument(name, ["doc-a"]);
      await store.deleteByIds(name, [pointId("c", { uri: "/a", ordinal: 0 })]);
      await store.drop(name);
      await assert.rejects(store.upsert(name, makePoints("c").slice(0, 1)), (err: unknown) => {
        assert.ok(err instanceof CollectionNotFoundError, String(err));
        assert.equal(err.collection, name);
        return true;
      });
      assert.equal(await store.resolveAlias(name), undefined);
      await store.deleteAlias(name);
    })();
  },

  "vectors of another dimension throw DimensionMismatchError": ({ store }) =>
    withNames(store, 1, async (name) => {
      await store.ensureCollection(name, DIM);
      const [p] = makePoints("c");
      const short = { ...p!, vector: Array.from(p!.vector).slice(0, DIM - 2) };
      await assert.rejects(store.upsert(name, [short]), (err: unknown) => {
        assert.ok(err instanceof DimensionMismatchError, String(err));
        assert.equal(err.actual, DIM - 2);
        assert.equal(err.expected, DIM);
        return true;
      });
      await assert.rejects(store.search(name, [1, 2, 3], { k: 1 }), (err: unknown) => {
        assert.ok(err instanceof DimensionMismatchError, String(err));
        assert.equal(err.actual, 3);
        assert.equal(err.expected, DIM);
        return true;
      });
      assert.equal(await store.count(name), 0);
    }),

  "bad names and inputs are refused before reaching the backend": async ({ store }) => {
    for (const bad of ["Col", "col-1", "", "x".repeat(52), 'a"; drop table x; --']) {
      await assert.rejects(store.count(bad), TypeError);
      await assert.rejects(store.ensureCollection(bad, DIM), TypeError);
      await assert.rejects(store.setAlias(bad, "col_x"), TypeError);
    }
    const name = fresh();
    await assert.rejects(store.ensureCollection(name, 0), RangeError);
    await assert.rejects(store.search(name, new Array(DIM).fill(0), { k: 1 }), /zero vector/);
    await assert.rejects(store.search(name, [1, 2], { k: 0 }), TypeError);
    await assert.rejects(store.deleteByIds(name, ["not-a-uuid"]), TypeError);
  },

  "aliases: switch, resolve, read and write through, delete": ({ store }) =>
    withNames(store, 3, async (blue, green, alias) => {
      await store.ensureCollection(blue, DIM);
      await store.ensureCollection(green, DIM);
      const points = makePoints("c");
      await store.upsert(blue, points.slice(0, 4));
      assert.equal(await store.setAlias(alias, blue), undefined);
      assert.equal(await store.resolveAlias(alias), blue);
      assert.equal(await store.count(alias), 4);
      await store.ensureCollection(alias, DIM); // an alias to an existing collection is fine
      await store.upsert(alias, points.slice(4, 6));
      assert.equal(await store.count(blue), 6);
      assert.equal(await store.setAlias(alias, green), blue);
      assert.equal(await store.count(alias), 0);
      await store.upsert(alias, points.slice(0, 1));
      await store.deleteByDocument(alias, ["doc-a"]);
      assert.equal(await store.count(green), 0);
      await assert.rejects(store.setAlias(alias, fresh()), CollectionNotFoundError);
      assert.equal(await store.resolveAlias(alias), green, "a failed switch changes nothing");
      await assert.rejects(store.setAlias(blue, green), TypeError);
      // A target must be a collection: aliases do not chain.
      await assert.rejects(store.setAlias(fresh(), alias), CollectionNotFoundError);
      await store.deleteAlias(alias);
      assert.equal(await store.resolveAlias(alias), undefined);
      assert.equal(await store.count(alias), 0);
      assert.equal(await store.count(blue), 6);
    }),

  "drop() through an alias drops its collection and every alias to it": ({ store }) =>
    withNames(store, 4, async (a, b, alias1, alias2) => {
      await store.ensureCollection(a, DIM);
      await store.ensureCollection(b, DIM);
      await store.upsert(a, makePoints("c").slice(0, 3));
      await store.setAlias(alias1, a);
      await store.setAlias(alias2, a);
      await store.drop(alias1);
      assert.equal(await store.count(a), 0);
      assert.equal(await store.resolveAlias(alias1), undefined);
      assert.equal(await store.resolveAlias(alias2), undefined);
      await assert.rejects(store.upsert(a, makePoints("c").slice(0, 1)), CollectionNotFoundError);
      await store.ensureCollection(b, DIM);
      await store.drop(b);
      await store.drop(b);
    }),

  "switching an alias is atomic for searches running meanwhile": ({ store }) =>
    withNames(store, 3, async (blue, green, alias) => {
      await store.ensureCollection(blue, DIM);
      await store.ensureCollection(green, DIM);
      await store.upsert(blue, makePoints("c", 1, { generation: 1 }));
      await store.upsert(green, makePoints("c", 2, { generation: 2 }));
      await store.setAlias(alias, blue);
      const q = randomVector(rng(8));
      const WORKERS = 4;
      let switched = false;
      let stop = false;
      let started = 0;
      const allStarted = Promise.withResolvers<void>();
      const afterSwitch = new Map<number, number>();
      const enoughAfter = Promise.withResolvers<void>();
      const seen: { generation: number; afterSwitch: boolean }[] = [];
      const worker = async (w: number) => {
        let first = true;
        while (!stop) {
          const startedAfterSwitch = switched;
          const hits = await store.search(alias, q, { k: 5 });
          assert.equal(hits.length, 5, "a search during the switch must not come back empty");
          const gens = new Set(hits.map((h) => h.payload.generation));
          assert.equal(gens.size, 1, `one search mixed generations: ${[...gens]}`);
          seen.push({ generation: [...gens][0] as number, afterSwitch: startedAfterSwitch });
          if (first && ++started === WORKERS) allStarted.resolve();
          first = false;
          if (startedAfterSwitch) {
            afterSwitch.set(w, (afterSwitch.get(w) ?? 0) + 1);
            if ([...afterSwitch.values()].filter((n) => n >= 3).length === WORKERS) {
              enoughAfter.resolve();
            }
          }
        }
      };
      const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
      const failed = Promise.all(workers).then(() => {}, (err) => {
        stop = true;
        allStarted.reject(err);
        enoughAfter.reject(err);
      });
      try {
        await allStarted.promise;
        assert.equal(await store.setAlias(alias, green), blue);
        switched = true;
        // The old generation goes away while searches keep running.
        await store.drop(blue);
        await enoughAfter.promise;
      } finally {
        stop = true;
        await failed;
        await Promise.all(workers);
      }
      assert.ok(seen.some((s) => s.generation === 1), "some searches ran before the switch");
      for (const s of seen) {
        if (s.afterSwitch) {
          assert.equal(s.generation, 2, "a search after the switch saw the old one");
        }
      }
    }),
};

/** What each child process of the two-process step runs. */
const CHILD_SCRIPT = `
import { connectPostgres } from "${join(ROOT, "shared/db/postgres_driver.ts")}";
import { PgvectorStore } from "${join(ROOT, "shared/vector/pgvector_store.ts")}";
import { QdrantStore } from "${join(ROOT, "shared/vector/qdrant_store.ts")}";
const env = (k) => Deno.env.get(k) ?? "";
const db = env("VS_KIND") === "pgvector" ? connectPostgres(env("VS_URL"), { max: 2 }) : undefined;
const store = db ? new PgvectorStore(db) : new QdrantStore({ url: env("VS_URL"), apiKey: env("VS_API_KEY") || undefined });
try {
  for (let i = 0; i < 3; i++) await store.ensureCollection(env("VS_NAME"), Number(env("VS_DIM")));
  await store.upsert(env("VS_NAME"), JSON.parse(env("VS_POINTS")));
} finally {
  await store.close();
  await db?.close();
}
`;

for (const target of TARGETS) {
  Deno.test({
    name: `vector store contract: ${target.name}`,
    ignore: target.ignore,
    async fn(t) {
      const opened = await target.open();
      try {
        for (const [name, step] of Object.entries(CONTRACT)) {
          await t.step(name, () => step(opened));
        }
      } finally {
        await opened.store.close();
        await opened.cleanup();
      }
    },
  });
}

Deno.test("vector stores agree on hits and scores within 1e-5", async () => {
  const opened: { name: string; o: Opened }[] = [];
  const names: { store: VectorStore; name: string }[] = [];
  try {
    for (const target of TARGETS.filter((x) => !x.ignore)) {
      opened.push({ name: target.name, o: await target.open() });
    }
    const points = makePoints("agree", 2024);
    for (const { o } of opened) {
      const name = fresh();
      names.push({ store: o.store, name });
      await o.store.ensureCollection(name, DIM);
      await o.store.upsert(name, points);
    }
    const next = rng(77);
    const queries: VectorSearchOptions[] = [
      { k: 10 },
      { k: 100 },
      { k: 5, scoreThreshold: 0.1 },
      { k: 100, documentIds: ["doc-a", "doc-d"] },
      { k: 100, uriPrefix: "/data/x" },
      { k: 4, uriPrefix: "/data", documentIds: ["doc-b", "doc-d"], scoreThreshold: -0.2 },
    ];
    for (let round = 0; round < 4; round++) {
      const q = randomVector(next);
      for (const o of queries) {
        const results = await Promise.all(names.map(({ store, name }) => store.search(name, q, o)));
        const [first, ...rest] = results;
        assert.ok(first!.length > 0);
        rest.forEach((r, i) =>
          assertHits(
            r,
            first!.map((h) => ({ id: h.id, score: h.score })),
            `${opened[i + 1]!.name} vs ${opened[0]!.name}, ${JSON.stringify(o)}`,
          )
        );
      }
    }
  } finally {
    for (const { store, name } of names) await store.drop(name).catch(() => {});
    for (const { o } of opened) {
      await o.store.close();
      await o.cleanup();
    }
  }
});
