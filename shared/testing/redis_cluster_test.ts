import assert from "node:assert/strict";
import { clusterViewCounts } from "./redis_cluster.ts";

// A master's `CLUSTER NODES` as CI printed it (2026-12-07) right after `startRedisCluster`
// returned: its replicas had synced, yet it still listed them as masters without slots.
const beforeGossip = [
  "6e982eb3f5cbf6fff5aaf8847af0cb4522865875 127.0.0.1:46867@56867 master - 0 1796656619108 5 connected",
  "9c36712694f0b279431a75df33544a8512fde089 127.0.0.1:44055@54055 master - 0 1796656619205 6 connected",
  "cd081cbcc5ff2b5770d5ddb774df04c967183303 127.0.0.1:32827@42827 myself,master - 0 1796656619000 3 connected 10923-16383",
  "f40dd62372662dd9ae171841379f69e6d199f286 127.0.0.1:36011@46011 master - 0 1796656619004 1 connected 0-5460",
  "1f9c03d817b1c3ede4138c337c6616ac6fb9aa71 127.0.0.1:33987@43987 master - 0 1796656619004 4 connected",
  "671beae3e845d9cd88495bb42da794a28d688546 127.0.0.1:42199@52199 master - 0 1796656619205 2 connected 5461-10922",
];

const M1 = "f40dd62372662dd9ae171841379f69e6d199f286";
const M2 = "671beae3e845d9cd88495bb42da794a28d688546";
const M3 = "cd081cbcc5ff2b5770d5ddb774df04c967183303";

/** The same view once gossip has told the node who follows whom. */
function afterGossip(flags: [string, string, string] = ["slave", "slave", "slave"]): string[] {
  return [
    `6e982eb3f5cbf6fff5aaf8847af0cb4522865875 127.0.0.1:46867@56867 ${
      flags[0]
    } ${M3} 0 1796656619108 3 connected`,
    `9c36712694f0b279431a75df33544a8512fde089 127.0.0.1:44055@54055 ${
      flags[1]
    } ${M1} 0 1796656619205 1 connected`,
    beforeGossip[2]!,
    beforeGossip[3]!,
    `1f9c03d817b1c3ede4138c337c6616ac6fb9aa71 127.0.0.1:33987@43987 ${
      flags[2]
    } ${M2} 0 1796656619004 2 connected`,
    beforeGossip[5]!,
  ];
}

Deno.test("clusterViewCounts: a view that lists the replicas as masters without slots counts no replica", () => {
  assert.deepEqual(clusterViewCounts(beforeGossip.join("\n") + "\n"), { masters: 3, replicas: 0 });
});

Deno.test("clusterViewCounts: once gossip has told it, the same node counts three masters and three replicas", () => {
  assert.deepEqual(clusterViewCounts(afterGossip().join("\n")), { masters: 3, replicas: 3 });
  // A part-way view: one replica known.
  const partWay = afterGossip();
  partWay[0] = beforeGossip[0]!;
  partWay[1] = beforeGossip[1]!;
  assert.deepEqual(clusterViewCounts(partWay.join("\n")), { masters: 3, replicas: 1 });
});

Deno.test("clusterViewCounts: failed nodes do not count, nor a replica of a master that serves no slot", () => {
  assert.deepEqual(
    clusterViewCounts(afterGossip(["slave,fail", "slave", "slave"]).join("\n")),
    { masters: 3, replicas: 2 },
  );
  const failedMaster = afterGossip();
  failedMaster[3] = failedMaster[3]!.replace(" master ", " master,fail ");
  // M1 failed: it is no master with slots, and its replica is not counted either.
  assert.deepEqual(clusterViewCounts(failedMaster.join("\n")), { masters: 2, replicas: 2 });
});
