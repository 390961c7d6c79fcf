/**
 * Local Redis topologies for tests: a Redis Cluster (three masters, three replicas, on free ports
 * in a temporary directory, made with `redis-cli --cluster create`) and a Sentinel setup (one
 * master, one replica, three sentinels). Both stop every process they started.
 *
 * `deno run -A shared/testing/redis_cluster.ts` starts a cluster, prints its
 * `REDIS_CLUSTER_NODES` and keeps it until interrupted.
 */
import { freePort } from "../redis/private_server.ts";
import type { ClusterTarget, HostPort, SentinelTarget } from "../redis/redis_target.ts";

const HOST = "127.0.0.1";

interface Proc {
  port: number;
  child: Deno.ChildProcess;
  exited: boolean;
  status: Promise<Deno.CommandStatus>;
}

/**
 * Where the servers started here are recorded (one file per process, named by its pid, holding
 * its port) when the runner sets it, so that the runner can kill what a test process left behind
 * when it died before its cleanup ran (`reapRedisServers`).
 */
export const REDIS_PID_DIR_ENV = "SEMANTIK_TEST_REDIS_PID_DIR";

function spawnServer(args: string[], dir: string, port: number): Proc {
  const child = new Deno.Command("redis-server", {
    args,
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const p: Proc = { port, child, exited: false, status: child.status };
  const pidDir = Deno.env.get(REDIS_PID_DIR_ENV);
  const pidFile = pidDir ? `${pidDir}/${child.pid}` : undefined;
  if (pidFile) Deno.writeTextFileSync(pidFile, String(port));
  p.status = child.status.then((s) => {
    p.exited = true;
    if (pidFile) {
      try {
        Deno.removeSync(pidFile);
      } catch { /* the runner reaped it */ }
    }
    return s;
  });
  return p;
}

/**
 * Kills (SIGKILL) every redis-server recorded in `pidDir` that still runs (a test process died
 * before stopping its topology) and returns their ports. A pid is killed only while its command
 * line is still that of the redis-server on the recorded port, never a process that reused the
 * pid.
 */
export async function reapRedisServers(pidDir: string): Promise<number[]> {
  const reaped: number[] = [];
  for await (const entry of Deno.readDir(pidDir)) {
    const pid = Number(entry.name);
    if (!entry.isFile || !Number.isInteger(pid) || pid <= 1) continue;
    const port = (await Deno.readTextFile(`${pidDir}/${entry.name}`).catch(() => "")).trim();
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    // redis-server rewrites its title to `<path>/redis-server <host>:<port>[ [sentinel]]`.
    if (port && /^(?:\S*\/)?redis-server /.test(cmdline) && cmdline.includes(`:${port}`)) {
      try {
        Deno.kill(pid, "SIGKILL");
        reaped.push(Number(port));
      } catch { /* gone meanwhile */ }
    }
    await Deno.remove(`${pidDir}/${entry.name}`).catch(() => {});
  }
  return reaped;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-h", HOST, "-p", String(port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`redis-cli -p ${port} ${args.join(" ")}: ${text.trim()}`);
  return text;
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  seen: () => Promise<string> | string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (saw ${await seen()})`);
}

/** A port that is free, and (for cluster nodes) whose bus port (+10000) is free too. */
async function freeNodePort(taken: Set<number>, withBus: boolean): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await freePort();
    if (taken.has(p) || (withBus && (p > 55535 || taken.has(p + 10000)))) continue;
    if (withBus) {
      try {
        Deno.listen({ hostname: HOST, port: p + 10000 }).close();
      } catch {
        continue;
      }
    }
    taken.add(p);
    if (withBus) taken.add(p + 10000);
    return p;
  }
  throw new Error("no free port pair found for a cluster node");
}

async function stopAll(procs: Proc[], dir: string): Promise<void> {
  for (const p of procs) {
    if (!p.exited) {
      try {
        p.child.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }
  await Promise.all(procs.map((p) => p.status));
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

export interface LocalCluster {
  /** Every node (masters first, as created). */
  nodes: HostPort[];
  target: ClusterTarget;
  /** `REDIS_CLUSTER_NODES` for this cluster. */
  nodesSetting: string;
  /** The port of the master that serves `slot` now. */
  masterOfSlot(slot: number): Promise<number>;
  /** Ports of the masters now. */
  masters(): Promise<number[]>;
  /** Kills the node on `port` (SIGKILL). */
  kill(port: number): Promise<void>;
  /** Waits until every live node says cluster_state:ok and agrees on the masters. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface LocalClusterOptions {
  /** @default {3} */
  masters?: number;
  /** @default {1} */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how soon a dead master is failed over. @default {1000} */
  nodeTimeoutMs?: number;
}

/**
 * Waits until `replicas` nodes are replicas whose first sync with their master is done. Until
 * then the cluster is "ok" while a replica may still wait for its first copy of the data, and
 * writes made meanwhile were seen lost on failover (Redis 7.0.15, about a third of tries): the
 * replica acknowledged them (`WAIT 1` returned 1), yet its first copy, a full sync taken after
 * them, loaded no keys ("keys loaded: 0" in its log), and once promoted it had none. With writes
 * after the first sync, 22 of 22 tries kept them.
 */
async function waitReplicasSynced(ports: number[], replicas: number): Promise<void> {
  let seen = "";
  await waitUntil(
    `${replicas} replicas to finish their first sync`,
    async () => {
      const states = await Promise.all(ports.map((port) => cli(port, "info", "replication")));
      const synced = states.filter((s) =>
        s.includes("role:slave") && s.includes("master_link_status:up") &&
        s.includes("master_sync_in_progress:0")
      );
      seen = `${synced.length} synced`;
      return synced.length === replicas;
    },
    30_000,
    () => seen,
  );
}

/**
 * What one node's `CLUSTER NODES` says of the topology: how many masters serve slots, and how many
 * replicas (not failed) follow one of them. A node that another has just become the replica of
 * lists it as a master without slots until gossip tells it otherwise.
 */
export function clusterViewCounts(nodesText: string): { masters: number; replicas: number } {
  const rows = nodesText.trim().split("\n").map((l) => l.trim().split(" "));
  const withSlots = new Set(
    rows.filter((f) => f[2]?.includes("master") && !f[2].includes("fail") && f.length > 8)
      .map((f) => f[0]),
  );
  const replicas =
    rows.filter((f) => f[2]?.includes("slave") && !f[2].includes("fail") && withSlots.has(f[3]))
      .length;
  return { masters: withSlots.size, replicas };
}

/**
 * Waits until every node's `CLUSTER NODES` lists `masters` masters with slots and `replicas`
 * replicas, each of a master with slots. A node learns that another became a replica by gossip,
 * after `redis-cli --cluster create` returns and after the replica's first sync: a master was seen
 * (CI, 2026-12-07) listing its own replica as a master without slots while that replica already
 * acknowledged its writes (`WAIT 1` returned 1). A master with that view also denies the replica
 * its vote when a failover asks for it ("it is a master node").
 */
async function waitTopologyAgreed(
  ports: number[],
  masters: number,
  replicas: number,
): Promise<void> {
  let seen = "";
  await waitUntil(
    `every node to know ${masters} masters and ${replicas} replicas`,
    async () => {
      const views = await Promise.all(ports.map((port) => cli(port, "cluster", "nodes")));
      const counts = views.map(clusterViewCounts);
      seen = counts.map((c, i) => `${ports[i]}: ${c.masters}m/${c.replicas}r`).join(", ");
      return counts.every((c) => c.masters === masters && c.replicas === replicas);
    },
    30_000,
    () => seen,
  );
}

/**
 * Starts a Redis Cluster on free ports and returns once it is ok on every node, every replica has
 * finished its first sync and every node knows every replica; rejects (stopping what it started)
 * otherwise.
 */
export async function startRedisCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const { masters = 3, replicasPerMaster = 1, nodeTimeoutMs = 1000 } = options;
  const dir = await Deno.makeTempDir({ prefix: "semantik-cluster-" });
  const procs: Proc[] = [];
  const taken = new Set<number>();
  try {
    const count = masters * (1 + replicasPerMaster);
    for (let i = 0; i < count; i++) {
      const port = await freeNodePort(taken, true);
      procs.push(spawnServer(
        [
          "--port",
          String(port),
          "--bind",
          HOST,
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${port}.conf`,
          "--cluster-node-timeout",
          String(nodeTimeoutMs),
          "--save",
          "",
          "--appendonly",
          "no",
          // A replica's first sync starts at once, not after Redis' default 5 s wait for more
          // replicas (diskless sync): see waitReplicasSynced().
          "--repl-diskless-sync-delay",
          "0",
          "--dir",
          dir,
          "--loglevel",
          "warning",
        ],
        dir,
        port,
      ));
    }
    for (const p of procs) {
      await waitUntil(
        `cluster node ${p.port} to answer`,
        async () => !p.exited && (await cli(p.port, "ping")).includes("PONG"),
        10_000,
        () => p.exited ? "it exited" : "no PONG",
      );
    }
    await cli(
      procs[0]!.port,
      "--cluster",
      "create",
      ...procs.map((p) => `${HOST}:${p.port}`),
      "--cluster-replicas",
      String(replicasPerMaster),
      "--cluster-yes",
    );
    const nodes = procs.map((p) => ({ host: HOST, port: p.port }));
    const cluster: LocalCluster = {
      nodes,
      target: { mode: "cluster", nodes, tls: false },
      nodesSetting: nodes.map((n) => `${n.host}:${n.port}`).join(","),
      async masterOfSlot(slot) {
        const live = procs.find((p) => !p.exited)!;
        const text = await cli(live.port, "cluster", "nodes");
        for (const line of text.trim().split("\n")) {
          const f = line.split(" ");
          if (!f[2]?.includes("master") || f[2].includes("fail")) continue;
          for (const range of f.slice(8)) {
            const [a, b] = range.split("-").map(Number);
            if (a !== undefined && slot >= a && slot <= (b ?? a)) {
              return Number(f[1]!.split("@")[0]!.split(":").pop());
            }
          }
        }
        throw new Error(`no master serves slot ${slot}: ${text}`);
      },
      async masters() {
        const live = procs.find((p) => !p.exited)!;
        const text = await cli(live.port, "cluster", "nodes");
        return text.trim().split("\n").map((l) => l.split(" "))
          .filter((f) => f[2]?.includes("master") && !f[2].includes("fail") && f.length > 8)
          .map((f) => Number(f[1]!.split("@")[0]!.split(":").pop()));
      },
      async kill(port) {
        const p = procs.find((x) => x.port === port);
        if (!p) throw new Error(`no cluster node on port ${port}`);
        p.child.kill("SIGKILL");
        await p.status;
      },
      async waitHealthy(timeoutMs = 30_000) {
        let seen = "";
        await waitUntil(
          "the cluster to be ok on every live node",
          async () => {
            const live = procs.filter((p) => !p.exited);
            const states = await Promise.all(live.map((p) => cli(p.port, "cluster", "info")));
            seen = states.map((s, i) => `${live[i]!.port}:${/cluster_state:(\w+)/.exec(s)?.[1]}`)
              .join(" ");
            return states.every((s) => s.includes("cluster_state:ok")) &&
              (await cluster.masters()).length === masters;
          },
          timeoutMs,
          () => seen,
        );
      },
      stop: () => stopAll(procs, dir),
    };
    await cluster.waitHealthy();
    await waitReplicasSynced(procs.map((p) => p.port), masters * replicasPerMaster);
    await waitTopologyAgreed(procs.map((p) => p.port), masters, masters * replicasPerMaster);
    return cluster;
  } catch (err) {
    await stopAll(procs, dir);
    throw err;
  }
}

export interface LocalSentinel {
  target: SentinelTarget;
  /** The master's name in the sentinels' config. */
  name: string;
  /** Port of the node the sentinels name master now. */
  masterPort(): Promise<number>;
  /** Kills the node on `port` (SIGKILL). */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startRedisSentinel}. */
export interface LocalSentinelOptions {
  /** `down-after-milliseconds`: how soon a dead master is failed over. @default {1000} */
  downAfterMs?: number;
  /**
   * `failover-timeout`: among others, a failed election is tried again after twice this.
   * @default {5000}
   */
  failoverTimeoutMs?: number;
}

/** Starts one master, one replica and three sentinels (quorum 2) on free ports. */
export async function startRedisSentinel(
  options: LocalSentinelOptions = {},
): Promise<LocalSentinel> {
  const { downAfterMs = 1000, failoverTimeoutMs = 5000 } = options;
  const name = "semantik-test";
  const dir = await Deno.makeTempDir({ prefix: "semantik-sentinel-" });
  const procs: Proc[] = [];
  const taken = new Set<number>();
  const base = ["--bind", HOST, "--save", "", "--appendonly", "no", "--loglevel", "warning"];
  try {
    const masterPort = await freeNodePort(taken, false);
    const replicaPort = await freeNodePort(taken, false);
    procs.push(spawnServer(["--port", String(masterPort), "--dir", dir, ...base], dir, masterPort));
    procs.push(
      spawnServer(
        [
          "--port",
          String(replicaPort),
          "--dir",
          dir,
          "--replicaof",
          HOST,
          String(masterPort),
          ...base,
        ],
        dir,
        replicaPort,
      ),
    );
    await waitUntil("the replica to sync", async () => {
      const info = await cli(replicaPort, "info", "replication");
      return info.includes("master_link_status:up");
    }, 15_000);
    const sentinels: HostPort[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freeNodePort(taken, false);
      const conf = `${dir}/sentinel-${port}.conf`;
      await Deno.writeTextFile(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${name} ${HOST} ${masterPort} 2`,
          `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
          `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${name} 1`,
          "",
        ].join("\n"),
      );
      procs.push(spawnServer([conf, "--sentinel", "--loglevel", "warning"], dir, port));
      sentinels.push({ host: HOST, port });
    }
    await waitUntil("the sentinels to see each other and the replica", async () => {
      const infos = await Promise.all(
        sentinels.map((s) => cli(s.port, "sentinel", "master", name)),
      );
      return infos.every((t) => {
        const f = t.trim().split("\n");
        const v = (k: string) => f[f.indexOf(k) + 1];
        return v("num-other-sentinels") === "2" && v("num-slaves") === "1";
      });
    }, 20_000);
    return {
      name,
      target: { mode: "sentinel", sentinels, name, tls: false },
      async masterPort() {
        const live = procs.find((p) => !p.exited && sentinels.some((s) => s.port === p.port))!;
        const out = (await cli(live.port, "sentinel", "get-master-addr-by-name", name)).trim();
        return Number(out.split("\n")[1]);
      },
      async kill(port) {
        const p = procs.find((x) => x.port === port);
        if (!p) throw new Error(`no server on port ${port}`);
        p.child.kill("SIGKILL");
        await p.status;
      },
      stop: () => stopAll(procs, dir),
    };
  } catch (err) {
    await stopAll(procs, dir);
    throw err;
  }
}

if (import.meta.main) {
  const c = await startRedisCluster();
  console.log(`REDIS_CLUSTER_NODES=${c.nodesSetting}`);
  const stop = async () => {
    await c.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
