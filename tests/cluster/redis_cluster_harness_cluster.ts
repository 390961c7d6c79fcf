/**
 * The local Redis Cluster the cluster tests start (`startRedisCluster`) is ready only once every
 * replica holds its first copy of the data: a write its master acknowledges with `WAIT 1` is then
 * on the replica, so a failover test that kills the master keeps it. Writes made before a
 * replica's first sync were seen lost on failover (shared/testing/redis_cluster.ts). It also
 * returns only once every node knows every replica: a master was seen listing its own replica as a
 * master without slots right after start. Starts a cluster of its own. Run by `deno task
 * test:cluster`.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createRedis, nodeAddress, nodeForKey } from "../../shared/redis/redis.ts";
import { startRedisCluster } from "../../shared/testing/redis_cluster.ts";

Deno.test("startRedisCluster returns once every replica has synced and every master knows its replica: a write each master acknowledges with WAIT 1 is on its replica at once", async () => {
  const cluster = await startRedisCluster({ nodeTimeoutMs: 1000 });
  const client = createRedis(cluster.target, { name: "test:harness" });
  const opened: Redis[] = [];
  try {
    // One key per master, found by hash tag.
    const masters = new Set(await cluster.masters());
    const keyOf = new Map<number, string>();
    for (let tag = 0; keyOf.size < masters.size && tag < 1000; tag++) {
      const key = `test:harness:{${tag}}`;
      const slot = Number(await client.call("CLUSTER", ["KEYSLOT", key]));
      const port = await cluster.masterOfSlot(slot);
      if (!keyOf.has(port)) keyOf.set(port, key);
    }
    assert.equal(keyOf.size, 3, "a key on each of the three masters");
    for (const [port, key] of keyOf) {
      await client.set(key, `written at ${port}`);
      const master = await nodeForKey(client, key);
      assert.equal(nodeAddress(master), `127.0.0.1:${port}`);
      assert.equal(Number(await master.call("WAIT", ["1", "5000"])), 1, `${port}: WAIT 1`);
      const myId = String(await master.call("CLUSTER", ["MYID"]));
      const nodes = String(await master.call("CLUSTER", ["NODES"])).trim().split("\n");
      const replicaLine = nodes.map((l) => l.split(" ")).find((f) => f[3] === myId);
      assert.ok(replicaLine, `${port} has a replica: ${nodes.join(" | ")}`);
      const replicaPort = Number(replicaLine[1]!.split("@")[0]!.split(":").pop());
      const replica = new Redis({ host: "127.0.0.1", port: replicaPort, lazyConnect: true });
      opened.push(replica);
      await replica.connect();
      await replica.call("READONLY");
      assert.equal(await replica.get(key), `written at ${port}`, `the replica of ${port}`);
    }
  } finally {
    for (const r of opened) r.disconnect();
    client.disconnect();
    await cluster.stop();
  }
});
