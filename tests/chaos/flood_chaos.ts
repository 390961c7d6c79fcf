/**
 * Chaos scenario 6: a flood. 50 operations (each adds a new source directory to a collection)
 * are requested at once over 3 collections. At most one write operation is active per
 * collection: the others are refused with 409 and the test retries them, as a client would,
 * until each is accepted. All 50 complete; each collection ends with exactly its sources'
 * documents, chunks and points; a sampler reading Postgres throughout never sees two active
 * operations on one collection; a refused request leaves nothing behind (no source, no
 * operation).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startChaosSystem } from "./chaos_system.ts";
import { expectedIndex, writeChaosCorpus } from "./chaos_corpus.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";

const OPERATIONS = 50;
const COLLECTIONS = 3;
const FILES_PER_SOURCE = 20;

Deno.test("chaos 6: a flood of 50 operations over 3 collections: one active per collection, 409s retried, all complete", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({ vectorStore: "qdrant", workers: 3 });
  const followers: OperationFollower[] = [];
  let sampling = true;
  let sampler: Promise<number> | undefined;
  try {
    const user = await system.user();
    const collections: string[] = [];
    for (let c = 0; c < COLLECTIONS; c++) {
      const r = await system.call("POST", "/api/v2/collections", {
        token: user.token,
        body: { name: `flood ${c}` },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      collections.push(r.body.collection.id);
    }
    const sources = await Promise.all(
      Array.from(
        { length: OPERATIONS },
        (_, k) =>
          writeChaosCorpus(join(system.docs, "flood", `c${k % COLLECTIONS}`, `s${k}`), {
            files: FILES_PER_SOURCE,
            paragraphs: 4,
            seed: 100 + k,
          }),
      ),
    );
    const expected = await Promise.all(
      collections.map((_, c) =>
        expectedIndex(
          sources.filter((_, k) => k % COLLECTIONS === c).map((s) => s.dir),
          { modelsDir: system.modelsDir },
        )
      ),
    );

    // Postgres never holds two active operations of one collection.
    let samples = 0;
    const overlaps: unknown[] = [];
    sampler = (async () => {
      while (sampling) {
        const both = await system.db.query<{ collection_id: string; n: number }>(
          `select collection_id, count(*)::int as n from operations
            where status in ('pending', 'processing') group by collection_id having count(*) > 1`,
        );
        overlaps.push(...both);
        samples++;
        await new Promise((r) => setTimeout(r, 50));
      }
      return samples;
    })();

    let refused = 0;
    const floodStarted = performance.now();
    const opIds = await Promise.all(sources.map(async (s, k) => {
      const collectionId = collections[k % COLLECTIONS]!;
      for (;;) {
        const r = await system.call("POST", `/api/v2/collections/${collectionId}/sources`, {
          token: user.token,
          body: { type: "directory", path: s.dir },
        });
        if (r.status === 202) {
          const opId: string = r.body.operation.id;
          followers.push(
            new OperationFollower({
              wsUrl: system.wsUrl,
              token: user.token,
              operationId: opId,
              dropAfterMs: [200, 1200],
            }),
          );
          return opId;
        }
        assert.equal(r.status, 409, JSON.stringify(r.body));
        assert.equal(r.body.error.code, "conflict");
        refused++;
        // Back off a little, with jitter, and ask again.
        await new Promise((res) => setTimeout(res, 150 + Math.random() * 350));
      }
    }));
    const rows = await Promise.all(opIds.map((id) => system.waitForOperation(id)));
    const floodMs = performance.now() - floodStarted;
    sampling = false;
    const sampleCount = await sampler;
    sampler = undefined;
    assert.deepEqual(overlaps, [], "two active operations on one collection");

    for (const row of rows) {
      assert.equal(row.status, "completed", `${row.error_message}\n${system.dump()}`);
      assert.equal(row.type, "append");
    }
    const perCollection: string[] = [];
    for (const [c, collectionId] of collections.entries()) {
      const exp = expected[c]!;
      const n = sources.filter((_, k) => k % COLLECTIONS === c).length;
      const counts = await system.counts(collectionId);
      assert.deepEqual(counts.documents, {
        completed: exp.documents.completed,
        skipped: exp.documents.skipped,
      });
      assert.equal(counts.chunks, exp.chunks);
      assert.equal(counts.chunkCountSum, exp.chunks);
      assert.equal(counts.vectors, exp.chunks);
      const [{ sources: srcCount, ops }] = await system.db.query<{ sources: number; ops: number }>(
        `select (select count(*) from collection_sources where collection_id = $1)::int as sources,
                (select count(*) from operations where collection_id = $1)::int as ops`,
        [collectionId],
      ) as [{ sources: number; ops: number }];
      assert.equal(srcCount, n, "a refused request left a source behind");
      assert.equal(ops, n, "a refused request left an operation behind");
      perCollection.push(
        `${n} sources: ${counts.documents.completed} documents + ${counts.documents.skipped} ` +
          `skipped, ${counts.chunks} chunks = ${counts.vectors} points`,
      );
    }

    const summaries = await Promise.all(followers.map((f) => f.done));
    for (const f of followers) {
      const row = await system.operation(f.operationId);
      assert.deepEqual(f.violations, [], `follower of ${f.operationId}`);
      assert.equal(f.summary.snapshots, 0, `snapshot for ${f.operationId}`);
      assert.equal(f.summary.final?.type, "OPERATION_COMPLETED");
      const last = await system.lastPublishedEvent(f.operationId);
      assert.equal(last.type, "OPERATION_COMPLETED");
      assert.equal(f.lastEventId, last.id);
      assert.ok(last.id <= Number(row.event_seq), `id ${last.id} above event_seq ${row.event_seq}`);
    }

    printResult("6. A flood of 50 operations over 3 collections", startedAt, [
      `${OPERATIONS} appends requested at once; ${refused} answers were 409 (one active ` +
      `operation per collection) and retried; all ${OPERATIONS} completed ` +
      `${seconds(floodMs)} after the first request`,
      `Postgres sampled ${sampleCount} times: never two active operations on one collection; ` +
      `refused requests left no source or operation behind`,
      ...perCollection.map((l, c) => `collection ${c + 1}: ${l} (as expected)`),
      followersLine(summaries),
    ]);
  } finally {
    sampling = false;
    await sampler?.catch(() => {});
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
