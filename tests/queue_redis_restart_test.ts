/**
 * The worker against a Redis of its own that is flushed and restarted (without persistence, so
 * every key is gone, as after FLUSHALL): it must not crash, and must serve jobs enqueued after.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { freePort, hasBinary } from "../shared/redis/private_server.ts";
import { createRedis, pingRedis } from "../shared/redis/redis.ts";
import { Queue } from "../shared/queue/queue.ts";
import { taskHandler } from "../shared/queue/queue_worker.ts";
import { defineTask } from "../shared/queue/task.ts";
import { waitFor } from "../shared/queue/_test_helpers.ts";
import { PROCESS_START_MS } from "../shared/testing/wait.ts";
import { WorkerRuntime } from "../worker/worker_runtime.ts";

const task = defineTask("test.restart", z.object({ n: z.number() }));

class Server {
  child: Deno.ChildProcess | undefined;
  constructor(readonly port: number, readonly dir: string) {}
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("redis-server to answer", () => pingRedis(this.url, 200), {
      timeoutMs: PROCESS_START_MS,
    });
  }
  async kill(): Promise<void> {
    try {
      this.child?.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child?.status;
    this.child = undefined;
  }
}

Deno.test({
  name: "the worker survives FLUSHALL and a Redis restart, and serves jobs enqueued after",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "semantik-redis-restart-" });
    const server = new Server(await freePort(), dir);
    await server.start();
    const producer = createRedis(server.url, { name: "test:producer", maxRetriesPerRequest: null });
    producer.on("error", () => {});
    const done: number[] = [];
    const worker = new WorkerRuntime({
      redisUrl: server.url,
      prefix: "t:",
      queues: ["default"],
      host: "restart-test",
      handlers: [taskHandler(task, (p) => void done.push(p.n))],
      queueOptions: { leaseMs: 800, heartbeatMs: 150, reclaimIntervalMs: 200, blockMs: 300 },
      livenessIntervalMs: 200,
    });
    const running = worker.run();
    try {
      await worker.waitUntilReady();
      const q = new Queue(producer, "default", { prefix: "t:" });
      await q.enqueue(task, { n: 1 });
      await waitFor("the first job", () => done.includes(1));

      await producer.flushall();
      await q.enqueue(task, { n: 2 });
      await waitFor("a job after FLUSHALL", () => done.includes(2));

      await server.kill();
      await server.start();
      await q.enqueue(task, { n: 3 });
      await waitFor("a job after the restart", () => done.includes(3));
      assert.deepEqual(done, [1, 2, 3]);
    } finally {
      await worker.close();
      await running;
      producer.disconnect();
      await server.kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
