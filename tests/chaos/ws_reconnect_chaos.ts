/**
 * Chaos scenario 7 (on its own; every other scenario also runs WebSocket clients that drop and
 * reconnect): many clients follow one indexing operation and drop their connection every few
 * hundred milliseconds, coming back with `?since=<last id>` while events keep coming. Each sees
 * every event exactly once, in order, with no snapshot (Redis retained everything, so none is
 * due), then the terminal frame and a 1000 close. Clients that connect after the end replay the
 * whole history from event 1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startChaosSystem } from "./chaos_system.ts";
import { writeChaosCorpus } from "./chaos_corpus.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";

const FILES = 400;
const CLIENTS = 12;

Deno.test("chaos 7: WebSocket clients dropping and reconnecting every few hundred ms see every event id once, in order", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({ vectorStore: "qdrant", workers: 2 });
  const followers: OperationFollower[] = [];
  try {
    const corpus = await writeChaosCorpus(join(system.docs, "ws"), { files: FILES, seed: 7 });
    const user = await system.user();
    const created = await system.call("POST", "/api/v2/collections", {
      token: user.token,
      body: { name: "followed", source: { type: "directory", path: corpus.dir } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const opId: string = created.body.operation.id;
    const opStarted = performance.now();
    for (let i = 0; i < CLIENTS; i++) {
      followers.push(
        new OperationFollower({
          wsUrl: system.wsUrl,
          token: user.token,
          operationId: opId,
          dropAfterMs: [50, 400],
        }),
      );
    }
    const done = await system.waitForOperation(opId);
    const opMs = performance.now() - opStarted;
    assert.equal(done.status, "completed", `${done.error_message}\n${system.dump()}`);
    const live = await Promise.all(followers.map((f) => f.done));
    // Late clients: the history is still retained, so they replay it all.
    const late = [0, 1].map(() =>
      new OperationFollower({ wsUrl: system.wsUrl, token: user.token, operationId: opId })
    );
    followers.push(...late);
    const replayed = await Promise.all(late.map((f) => f.done));

    const last = await system.lastPublishedEvent(opId);
    assert.equal(last.type, "OPERATION_COMPLETED");
    const lastId = last.id;
    for (const f of followers) {
      assert.deepEqual(f.violations, []);
      assert.equal(f.summary.snapshots, 0, "a snapshot although every event was retained");
      assert.equal(f.summary.final?.type, "OPERATION_COMPLETED");
      assert.equal(f.lastEventId, lastId);
      assert.deepEqual(
        f.frames.map((x) => x.event_id),
        Array.from({ length: lastId }, (_, i) => i + 1),
      );
    }
    const reconnects = live.reduce((n, s) => n + s.connections - 1, 0);
    assert.ok(reconnects >= CLIENTS * 5, `only ${reconnects} reconnects`);

    printResult("7. WebSocket clients dropping and reconnecting", startedAt, [
      `${CLIENTS} clients followed one operation (${seconds(opMs)}, ${lastId} events), ` +
      `dropping their connection every 50-400 ms: ${reconnects} reconnects with ?since=, each ` +
      `client saw events 1..${lastId} exactly once, in order, no snapshot`,
      `2 clients connecting after the end replayed events 1..${lastId}`,
      followersLine([...live, ...replayed]),
    ]);
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
