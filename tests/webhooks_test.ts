// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Webhooks end to end: the API creates them, an operation ending (through the task context and
 * the API's cancel, the paths production takes) records its deliveries in the same transaction,
 * and an in-process worker sends them to receivers this test serves on 127.0.0.1 (so these
 * tests set WEBHOOK_ALLOW_PRIVATE=true, except the ones about refusing private targets).
 */
import assert from "node:assert/strict";
import {
  deliverWebhookTask,
  insertOperation,
  type OperationRow,
  resolveSecretsKey,
  SecretBox,
  sweepWebhookDeliveriesTask,
  TaskContext,
  webhookOutboxFor,
} from "@semantik/shared";
import { waitFor } from "@semantik/shared/testing";
import { startWorker, type WorkerRuntime } from "@semantik/worker";
import { type ApiTestEnv, createApiTestEnv } from "./helpers/api_env.ts";
import { FAST_QUEUE } from "./indexing_env.ts";
import { createWebhook } from "../api/webhooks/webhooks.ts";

/** Four attempts, 50 ms then 100 ms then 200 ms apart (less jitter). */
const FAST_WEBHOOKS = {
  WEBHOOK_ALLOW_PRIVATE: "true",
  WEBHOOK_MAX_ATTEMPTS: "4",
  WEBHOOK_RETRY_DELAY_MS: "50",
  WEBHOOK_TIMEOUT_S: "1",
};
/** Four attempts with at most 350 ms of backoff between them, and the queue's own latency. */
const DELIVERY_MS = 10_000;

interface Received {
  path: string;
  headers: Headers;
  body: string;
}

/** A receiver on 127.0.0.1: records every request and answers with `respond`. */
function startReceiver(respond: (r: Received, n: number) => Response | Promise<Response>) {
  const ac = new AbortController();
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const r = { path: new URL(req.url).pathname, headers: req.headers, body: await req.text() };
      received.push(r);
      return await respond(r, received.filter((x) => x.path === r.path).length);
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    received,
    url: (path: string) => `${base}${path}`,
    at: (path: string) => received.filter((r) => r.path === path),
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

interface Ctx {
  env: ApiTestEnv;
  worker: WorkerRuntime | undefined;
  token: string;
  userId: string;
  collectionId: string;
}

async function withWebhookEnv(
  options: { env?: Record<string, string>; worker?: boolean },
  fn: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const env = await createApiTestEnv({ env: options.env ?? FAST_WEBHOOKS });
  let worker: WorkerRuntime | undefined;
  try {
    if (options.worker ?? true) {
      worker = await startWorker(env.rt, { overrides: { queueOptions: FAST_QUEUE } });
    }
    const u = await env.user();
    const made = await env.call("POST", "/api/v2/collections", {
      token: u.token,
      body: { name: `hooks-${crypto.randomUUID().slice(0, 8)}` },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    await fn({ env, worker, token: u.token, userId: u.id, collectionId: made.body.collection.id });
  } finally {
    await worker?.close(true);
    await env.cleanup();
  }
}

/** A new operation on the collection (its job is never enqueued: the test ends it). */
function newOperation(ctx: Ctx): Promise<OperationRow> {
  return insertOperation(ctx.env.rt.db, {
    collectionId: ctx.collectionId,
    ownerId: ctx.userId,
    type: "index",
  });
}

/** A task context as the worker's operation handler builds it (with the webhook outbox). */
function contextFor(ctx: Ctx, row: OperationRow, options: { outbox?: boolean } = {}) {
  const rt = ctx.env.rt;
  return new TaskContext({
    db: rt.db,
    events: rt.events,
    log: rt.log,
    webhooks: options.outbox === false ? undefined : webhookOutboxFor(rt),
  }, row);
}

async function createHook(ctx: Ctx, url: string, events: string[]) {
  const res = await ctx.env.call("POST", "/api/v2/webhooks", {
    token: ctx.token,
    body: { url, events },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; url: string; events: string[]; secret: string };
}

async function deliveries(ctx: Ctx, hookId: string): Promise<any[]> {
  const res = await ctx.env.call("GET", `/api/v2/webhooks/${hookId}/deliveries`, {
    token: ctx.token,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.deliveries;
}

async function countDeliveries(ctx: Ctx): Promise<number> {
  const rows = await ctx.env.rt.db.query<{ n: number }>(
    "select count(*)::int as n from webhook_deliveries",
  );
  return rows[0]!.n;
}

async function hmacHex(secret: string, text: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a completed operation's delivery is the Operation JSON, signed with the webhook's secret", async () => {
  const receiver = startReceiver(() => new Response("ok"));
  try {
    await withWebhookEnv({}, async (ctx) => {
      const hook = await createHook(ctx, receiver.url("/hook"), ["operation.completed"]);
      assert.match(hook.secret, /^whsec_[0-9a-f]{64}$/);
      const listed = await ctx.env.call("GET", "/api/v2/webhooks", { token: ctx.token });
      assert.deepEqual(listed.body.webhooks.map((w: any) => Object.keys(w).sort()), [
        ["created_at", "events", "id", "url"],
      ]);
      const op = await newOperation(ctx);
      const before = Math.floor(Date.now() / 1000);
      assert.equal(await contextFor(ctx, op).complete({ documents_total: 3 }), true);
      const [got] = await waitFor(
        "the delivery",
        () => receiver.at("/hook").length === 1 ? receiver.at("/hook") : undefined,
      );
      const after = Math.floor(Date.now() / 1000);

      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(got!.headers.get("x-semantik-signature") ?? "");
      assert.ok(m, `signature header: ${got!.headers.get("x-semantik-signature")}`);
      const t = Number(m[1]);
      assert.ok(t >= before && t <= after + 1, `timestamp ${t} not in [${before}, ${after}]`);
      assert.equal(m[2], await hmacHex(hook.secret, `${t}.${got!.body}`));
      assert.notEqual(m[2], await hmacHex(hook.secret + "x", `${t}.${got!.body}`));
      assert.equal(got!.headers.get("content-type"), "application/json");
      assert.equal(got!.headers.get("x-semantik-event"), "operation.completed");

      const body = JSON.parse(got!.body);
      const [delivery] = await waitFor("the delivery to be recorded as succeeded", async () => {
        const ds = await deliveries(ctx, hook.id);
        return ds[0]?.status === "succeeded" ? ds : undefined;
      });
      assert.equal(got!.headers.get("x-semantik-delivery"), delivery.id);
      assert.equal(body.event, "operation.completed");
      assert.equal(body.delivery_id, delivery.id);
      const operation = await ctx.env.call("GET", `/api/v2/operations/${op.id}`, {
        token: ctx.token,
      });
      assert.equal(operation.status, 200);
      const { event: _e, delivery_id: _d, ...rest } = body;
      assert.deepEqual(rest, operation.body);
      assert.equal(rest.status, "completed");
      assert.equal(rest.metadata.documents_total, 3);
      assert.deepEqual(
        {
          operation_id: delivery.operation_id,
          event: delivery.event,
          attempts: delivery.attempts,
          response_status: delivery.response_status,
          last_error: delivery.last_error,
        },
        {
          operation_id: op.id,
          event: "operation.completed",
          attempts: 1,
          response_status: 200,
          last_error: null,
        },
      );
      assert.ok(delivery.completed_at && delivery.last_attempt_at && delivery.created_at);

      // At least once: a job of a delivery that already succeeded sends nothing again.
      const again = await ctx.env.rt.queues.enqueue(deliverWebhookTask, {
        delivery_id: delivery.id,
      }, { jobId: delivery.id });
      assert.equal(again.created, true);
      await waitFor(
        "the repeated job to end",
        async () => (await ctx.env.rt.queues.getJobState(delivery.id)) === null,
      );
      assert.equal(receiver.at("/hook").length, 1);
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("an operation the worker runs is delivered when it ends, with no sweep", async () => {
  const receiver = startReceiver(() => new Response("ok"));
  try {
    await withWebhookEnv({}, async (ctx) => {
      await createHook(ctx, receiver.url("/run"), ["operation.completed"]);
      // The collection's deletion: an operation the worker's handler ends (no model needed).
      const del = await ctx.env.call("DELETE", `/api/v2/collections/${ctx.collectionId}`, {
        token: ctx.token,
      });
      assert.equal(del.status, 202, JSON.stringify(del.body));
      const [got] = await waitFor(
        "the delivery of the delete operation",
        () => receiver.at("/run").length === 1 ? receiver.at("/run") : undefined,
      );
      const body = JSON.parse(got!.body);
      assert.deepEqual([body.id, body.type, body.status], [
        del.body.operation.id,
        "delete",
        "completed",
      ]);
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("a receiver that fails three times then answers 2xx gets one delivery, succeeded after 4 attempts", async () => {
  const receiver = startReceiver((_r, n) => new Response(null, { status: n <= 3 ? 500 : 204 }));
  try {
    await withWebhookEnv({}, async (ctx) => {
      const hook = await createHook(ctx, receiver.url("/flaky"), ["operation.failed"]);
      const op = await newOperation(ctx);
      await contextFor(ctx, op).fail(new Error("disk on fire"));
      const [d] = await waitFor("the delivery to succeed", async () => {
        const ds = await deliveries(ctx, hook.id);
        return ds[0]?.status === "succeeded" ? ds : undefined;
      }, { timeoutMs: DELIVERY_MS });
      assert.equal((await deliveries(ctx, hook.id)).length, 1);
      assert.equal(d.attempts, 4);
      assert.equal(d.response_status, 204);
      assert.match(d.last_error, /HTTP 500/);
      const ids = new Set(receiver.at("/flaky").map((r) => r.headers.get("x-semantik-delivery")));
      assert.deepEqual([...ids], [d.id]);
      assert.equal(receiver.at("/flaky").length, 4);
      assert.equal(JSON.parse(receiver.at("/flaky")[3]!.body).error_message, "disk on fire");
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("a receiver that never answers 2xx (a redirect is not followed) ends in the dead letters and the delivery failed", async () => {
  const receiver = startReceiver((r) =>
    r.path === "/moved"
      ? new Response(null, { status: 302, headers: { location: "/landing" } })
      : new Response("ok")
  );
  try {
    await withWebhookEnv({}, async (ctx) => {
      const hook = await createHook(ctx, receiver.url("/moved"), ["operation.completed"]);
      await contextFor(ctx, await newOperation(ctx)).complete();
      const [d] = await waitFor("the delivery to fail", async () => {
        const ds = await deliveries(ctx, hook.id);
        return ds[0]?.status === "failed" ? ds : undefined;
      }, { timeoutMs: DELIVERY_MS });
      assert.equal(d.attempts, 4);
      assert.equal(d.response_status, 302);
      assert.match(d.last_error, /HTTP 302/);
      assert.equal(receiver.at("/moved").length, 4);
      assert.equal(receiver.at("/landing").length, 0);
      const dead = await ctx.env.rt.queues.listDeadLetters();
      const job = dead.find((j) => j.id === d.id);
      assert.ok(job, `no dead letter for ${d.id}: ${JSON.stringify(dead)}`);
      assert.equal(job.name, "webhooks.deliver");
      assert.equal(job.attempts, 4);
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("an attempt that gets no answer within WEBHOOK_TIMEOUT_S is retried", async () => {
  const gate = Promise.withResolvers<void>();
  const receiver = startReceiver(async (_r, n) => {
    if (n === 1) await gate.promise; // hangs past the 1 s limit
    return new Response("ok");
  });
  try {
    await withWebhookEnv({}, async (ctx) => {
      const hook = await createHook(ctx, receiver.url("/slow"), ["operation.completed"]);
      await contextFor(ctx, await newOperation(ctx)).complete();
      const [d] = await waitFor("the second attempt to succeed", async () => {
        const ds = await deliveries(ctx, hook.id);
        return ds[0]?.status === "succeeded" ? ds : undefined;
      }, { timeoutMs: DELIVERY_MS });
      assert.equal(d.attempts, 2);
      assert.match(d.last_error, /no answer within 1000 ms/);
    });
  } finally {
    gate.resolve();
    await receiver.close();
  }
});

Deno.test("completed, failed and cancelled each reach only the webhooks subscribed to them", async () => {
  const receiver = startReceiver(() => new Response("ok"));
  try {
    await withWebhookEnv({}, async (ctx) => {
      await createHook(ctx, receiver.url("/completed"), ["operation.completed"]);
      await createHook(ctx, receiver.url("/failed"), ["operation.failed"]);
      await createHook(ctx, receiver.url("/cancelled"), ["operation.cancelled"]);
      await createHook(ctx, receiver.url("/all"), [
        "operation.completed",
        "operation.failed",
        "operation.cancelled",
      ]);
      // Another user's webhook hears nothing of this user's operations.
      const other = await ctx.env.user();
      const res = await ctx.env.call("POST", "/api/v2/webhooks", {
        token: other.token,
        body: { url: receiver.url("/other"), events: ["operation.completed"] },
      });
      assert.equal(res.status, 201);

      const completed = await newOperation(ctx);
      await contextFor(ctx, completed).complete();
      const failed = await newOperation(ctx);
      await contextFor(ctx, failed).fail(new Error("boom"));
      const cancelled = await newOperation(ctx);
      const cancel = await ctx.env.call("DELETE", `/api/v2/operations/${cancelled.id}`, {
        token: ctx.token,
      });
      assert.equal(cancel.status, 202, JSON.stringify(cancel.body));

      await waitFor("six deliveries", () => receiver.received.length >= 6, {
        seen: () => receiver.received.map((r) => r.path),
      });
      const seen = (path: string) =>
        receiver.at(path).map((r) => {
          const b = JSON.parse(r.body);
          return [b.event, b.id];
        }).sort();
      assert.deepEqual(seen("/completed"), [["operation.completed", completed.id]]);
      assert.deepEqual(seen("/failed"), [["operation.failed", failed.id]]);
      assert.deepEqual(seen("/cancelled"), [["operation.cancelled", cancelled.id]]);
      assert.deepEqual(
        seen("/all"),
        [
          ["operation.cancelled", cancelled.id],
          ["operation.completed", completed.id],
          ["operation.failed", failed.id],
        ].sort(),
      );
      assert.equal(receiver.at("/other").length, 0);
      assert.equal(await countDeliveries(ctx), 6);
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("deleting a webhook stops its deliveries, pending retries included", async () => {
  const firstArrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const receiver = startReceiver(async (_r, n) => {
    if (n === 1) {
      firstArrived.resolve();
      await release.promise;
    }
    return new Response(null, { status: 500 });
  });
  try {
    await withWebhookEnv({}, async (ctx) => {
      const hook = await createHook(ctx, receiver.url("/gone"), ["operation.completed"]);
      await contextFor(ctx, await newOperation(ctx)).complete();
      await firstArrived.promise;
      const [d] = await deliveries(ctx, hook.id);
      const del = await ctx.env.call("DELETE", `/api/v2/webhooks/${hook.id}`, {
        token: ctx.token,
      });
      assert.equal(del.status, 204);
      release.resolve(); // the first attempt fails now, after the delete
      await waitFor(
        "the delivery job to end",
        async () => (await ctx.env.rt.queues.getJobState(d.id)) === null,
        { timeoutMs: DELIVERY_MS },
      );
      assert.equal(receiver.at("/gone").length, 1);
      // A later operation records nothing for it.
      await contextFor(ctx, await newOperation(ctx)).complete();
      assert.equal(await countDeliveries(ctx), 0);
      const again = await ctx.env.call("GET", `/api/v2/webhooks/${hook.id}/deliveries`, {
        token: ctx.token,
      });
      assert.equal(again.status, 404);
    });
  } finally {
    release.resolve();
    await receiver.close();
  }
});

Deno.test("a delivery recorded but never enqueued (the process died after the commit) is sent by the sweep", async () => {
  const receiver = startReceiver(() => new Response("ok"));
  try {
    await withWebhookEnv({}, async (ctx) => {
      const hook = await createHook(ctx, receiver.url("/late"), ["operation.completed"]);
      const op = await newOperation(ctx);
      // Without the outbox the context commits the row and its delivery and enqueues nothing:
      // what a process killed right after the commit leaves behind.
      await contextFor(ctx, op, { outbox: false }).complete();
      const [d] = await deliveries(ctx, hook.id);
      assert.equal(d.status, "pending");
      assert.equal(await ctx.env.rt.queues.getJobState(d.id), null);
      // A young row is left to its own enqueue.
      assert.equal(await webhookOutboxFor(ctx.env.rt).sweep(), 0);
      assert.equal(await ctx.env.rt.queues.getJobState(d.id), null);

      await ctx.env.rt.db.query(
        "update webhook_deliveries set created_at = now() - interval '1 minute' where id = $1",
        [d.id],
      );
      // The scheduler's job, run by the worker.
      await ctx.env.rt.queues.enqueue(sweepWebhookDeliveriesTask, { tick: "t1" });
      await waitFor("the swept delivery", () => receiver.at("/late").length === 1);
      assert.equal(receiver.at("/late")[0]!.headers.get("x-semantik-delivery"), d.id);
      await waitFor("the delivery to succeed", async () => {
        const [x] = await deliveries(ctx, hook.id);
        return x.status === "succeeded";
      });
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("loopback and private targets are refused by default: 422 at creation, failed at delivery", async () => {
  const receiver = startReceiver(() => new Response("ok"));
  try {
    await withWebhookEnv({ env: { WEBHOOK_RETRY_DELAY_MS: "50" } }, async (ctx) => {
      for (
        const url of [
          receiver.url("/x"),
          "http://10.1.2.3/hook",
          "http://[::1]:8080/hook",
          "http://localhost/hook",
          "http://169.254.169.254/latest",
          "http://[::ffff:192.168.0.1]/hook",
        ]
      ) {
        const res = await ctx.env.call("POST", "/api/v2/webhooks", {
          token: ctx.token,
          body: { url, events: ["operation.completed"] },
        });
        assert.equal(res.status, 422, `${url}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, "address_not_allowed");
        assert.match(res.body.error.message, /WEBHOOK_ALLOW_PRIVATE=true/);
      }
      const ftp = await ctx.env.call("POST", "/api/v2/webhooks", {
        token: ctx.token,
        body: { url: "ftp://example.com/x", events: ["operation.completed"] },
      });
      assert.equal(ftp.status, 400);
      assert.equal(ftp.body.error.code, "invalid_request");
      assert.match(ftp.body.error.message, /http or https/);

      // A webhook made while its host was allowed (DNS changed since): refused when sent.
      const rt = ctx.env.rt;
      const box = await SecretBox.fromKey(await resolveSecretsKey(rt.config));
      const hook = await createWebhook({
        db: rt.db,
        secrets: () => Promise.resolve(box),
        allowPrivate: true,
        log: rt.log,
      }, {
        userId: ctx.userId,
        input: { url: receiver.url("/private"), events: ["operation.completed"] },
      });
      await contextFor(ctx, await newOperation(ctx)).complete();
      const [d] = await waitFor("the delivery to be refused", async () => {
        const ds = await deliveries(ctx, hook.id);
        return ds[0]?.status === "failed" ? ds : undefined;
      }, { timeoutMs: DELIVERY_MS });
      assert.match(d.last_error, /127\.0\.0\.1 is a loopback or private-network address/);
      assert.equal(d.attempts, 1);
      assert.equal(receiver.received.length, 0);
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("webhooks are their owner's: another user gets 403 for them, a missing one is 404", async () => {
  await withWebhookEnv({ worker: false }, async (ctx) => {
    const hook = await createHook(ctx, "http://127.0.0.1:9/hook", ["operation.failed"]);
    const other = await ctx.env.user();
    for (
      const [method, path] of [
        ["DELETE", `/api/v2/webhooks/${hook.id}`],
        ["GET", `/api/v2/webhooks/${hook.id}/deliveries`],
      ] as const
    ) {
      const res = await ctx.env.call(method, path, { token: other.token });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.body.error.code, "forbidden");
      const missing = await ctx.env.call(method, path.replace(hook.id, crypto.randomUUID()), {
        token: other.token,
      });
      assert.equal(missing.status, 404, `${method} ${path} of a missing webhook`);
    }
    const theirs = await ctx.env.call("GET", "/api/v2/webhooks", { token: other.token });
    assert.deepEqual(theirs.body.webhooks, []);
    const mine = await ctx.env.call("GET", "/api/v2/webhooks", { token: ctx.token });
    assert.deepEqual(mine.body.webhooks.map((w: any) => w.id), [hook.id]);
    const bad = await ctx.env.call("POST", "/api/v2/webhooks", {
      token: ctx.token,
      body: { url: "http://127.0.0.1:9/x", events: ["operation.started"] },
    });
    assert.equal(bad.status, 400);
    const repeated = await ctx.env.call("POST", "/api/v2/webhooks", {
      token: ctx.token,
      body: { url: "http://127.0.0.1:9/x", events: ["operation.failed", "operation.failed"] },
    });
    assert.equal(repeated.status, 400);
    assert.match(repeated.body.error.message, /must not repeat an event/);
    const noAuth = await ctx.env.call("GET", "/api/v2/webhooks");
    assert.equal(noAuth.status, 401);
  });
});
