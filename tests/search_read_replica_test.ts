// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * `DATABASE_READ_URL` against a real streaming replica: a private Postgres primary and a
 * `pg_basebackup -R` replica of it (shared/testing/postgres_replica.ts). Search through the API
 * reads the replica: what the primary wrote is found once the replica has replayed it; while
 * replay is paused, a change made on the primary only is not seen (so the reads ran on the
 * replica), a collection created meanwhile is searched (looked up on the primary, not 404) and
 * its points whose chunk rows have not arrived are dropped without an error; with the replica
 * down, search answers from the primary, counts the fallback and `/readyz` reports the replica.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker } from "@semantik/worker";
import {
  canStartPostgresReplica,
  OPERATION_MS,
  startPostgresReplicaPair,
  waitFor,
} from "@semantik/shared/testing";
import { connectPostgres } from "@semantik/shared";
import { createApiTestEnv } from "./helpers/api_env.ts";

const available = await canStartPostgresReplica();
if (!available) {
  console.warn(
    "search_read_replica_test: skipped: initdb, pg_ctl or pg_basebackup is not installed " +
      "(PATH or /usr/lib/postgresql/<version>/bin)",
  );
}

Deno.test({
  name: "search reads DATABASE_READ_URL's replica, tolerates its lag and falls back to the primary",
  ignore: !available,
  async fn() {
    const pair = await startPostgresReplicaPair();
    let env: Awaited<ReturnType<typeof createApiTestEnv>> | undefined;
    try {
      env = await createApiTestEnv({
        database: { url: pair.primary.url, replicaUrl: pair.replicaUrl },
      });
      const e = env;
      assert.ok(e.rt.readPool, "DATABASE_READ_URL makes a read pool");
      await Deno.writeTextFile(
        join(e.docs, "cats.md"),
        "Cats are small felines. They purr and chase mice.",
      );
      await startWorker(e.rt);
      const { token } = await e.user();
      const index = async (name: string, dir: string) => {
        const created = await e.call("POST", "/api/v2/collections", {
          token,
          body: { name, source: { type: "directory", path: dir } },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        await waitFor(`indexing of ${name}`, async () => {
          const op = await e.call("GET", `/api/v2/operations/${created.body.operation.id}`, {
            token,
          });
          return op.body.status === "completed" ? op.body : undefined;
        }, { timeoutMs: OPERATION_MS });
        return created.body.collection?.id ?? created.body.id as string;
      };
      const search = async (query: string, collectionIds?: string[]) => {
        const res = await e.call("POST", "/api/v2/search", {
          token,
          body: {
            query,
            mode: "lexical",
            ...(collectionIds ? { collection_ids: collectionIds } : {}),
          },
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body.results as any[];
      };
      const fallbacks = async () => {
        const text = await e.rt.metrics.metrics();
        return [...text.matchAll(/^semantik_db_read_fallbacks_total\{[^}]*\} (\d+)/gm)]
          .reduce((n, m) => n + Number(m[1]), 0);
      };

      const cats = await index("cats", e.docs);
      await pair.waitReplayed(OPERATION_MS);
      const first = await search("felines");
      assert.equal(first.length, 1, JSON.stringify(first));
      assert.match(first[0].text, /small felines/);
      assert.equal(first[0].collection_id, cats);
      const ready = await e.call("GET", "/readyz");
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      assert.equal(ready.body.checks.database_replica.ok, true, JSON.stringify(ready.body));
      assert.equal(typeof ready.body.checks.database_replica.lag_bytes, "number");

      // Replay paused: the replica lags. A change on the primary only is not what search shows.
      await pair.pauseReplay(true);
      const primary = connectPostgres(e.rt.config.databaseUrl!, { max: 1 });
      try {
        await primary.query(
          "update chunks set text = replace(text, 'small felines', 'small PRIMARY felines')",
        );
      } finally {
        await primary.close();
      }
      const lagging = await search("felines");
      assert.equal(lagging.length, 1, JSON.stringify(lagging));
      assert.match(lagging[0].text, /small felines/, "read on the replica, not the primary");

      // A collection created and indexed while the replica lags: looked up on the primary (not
      // 404); its points' chunk rows are not on the replica yet, so they are dropped.
      const dogsDir = join(e.docs, "..", "dogs");
      await Deno.mkdir(dogsDir);
      await Deno.writeTextFile(join(dogsDir, "dogs.md"), "Dogs are loyal canines that bark.");
      const dogs = await index("dogs", dogsDir);
      assert.deepEqual(await search("canines", [dogs]), []);
      assert.equal(await fallbacks(), 0, "no fallback while the replica answers");

      // Replay resumed: the replica catches up and search sees both writes.
      await pair.pauseReplay(false);
      await pair.waitReplayed(OPERATION_MS);
      const caught = await search("canines", [dogs]);
      assert.equal(caught.length, 1, JSON.stringify(caught));
      assert.match(caught[0].text, /loyal canines/);
      assert.match((await search("felines", [cats]))[0].text, /small PRIMARY felines/);

      // The replica down: search answers from the primary, counted; /readyz says so but stays
      // ready (search does not need the replica).
      await pair.stopReplica();
      const fallen = await search("canines", [dogs]);
      assert.equal(fallen.length, 1, JSON.stringify(fallen));
      assert.match(fallen[0].text, /loyal canines/);
      assert.ok(await fallbacks() >= 1, "the fallback is counted");
      assert.equal(e.rt.readPool!.replicaDown, true);
      const down = await e.call("GET", "/readyz");
      assert.equal(down.status, 200, JSON.stringify(down.body));
      assert.equal(down.body.checks.database_replica.ok, false);
      assert.match(down.body.checks.database_replica.reason, /primary/);
    } finally {
      await env?.cleanup();
      await pair.stop();
    }
  },
});
