import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { counter } from "./metrics_registry.ts";
import { checkWithin, serveMetrics, serveRoleMetrics } from "./metrics_server.ts";

Deno.test("the metrics endpoint: token on /metrics, open health, readiness with reasons, JSON errors", async () => {
  const registry = new Registry();
  counter(registry, { name: "t_things_total", help: "things" }).inc(3);
  let redisUp = true;
  const server = await serveMetrics(registry, {
    port: 0,
    token: "s3cret",
    readiness: async () => ({
      redis: redisUp ? { ok: true } : { ok: false, reason: "connection refused" },
      slow: await checkWithin(() => new Promise((r) => setTimeout(r, 5)), 1000),
    }),
  });
  try {
    const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
    const denied = await get("/metrics");
    assert.equal(denied.status, 401);
    assert.equal((await denied.json()).error.code, "unauthorized");
    const scraped = await get("/metrics", { headers: { authorization: "Bearer s3cret" } });
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /^t_things_total 3$/m);

    const health = await get("/healthz");
    assert.deepEqual([health.status, await health.json()], [200, { status: "ok" }]);
    const ready = await get("/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual((await ready.json()).checks, { redis: { ok: true }, slow: { ok: true } });
    redisUp = false;
    const notReady = await get("/readyz");
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), {
      status: "unavailable",
      checks: { redis: { ok: false, reason: "connection refused" }, slow: { ok: true } },
    });

    const missing = await get("/nope");
    assert.deepEqual([missing.status, (await missing.json()).error.code], [404, "not_found"]);
    const post = await get("/metrics", { method: "POST" });
    assert.deepEqual([post.status, (await post.json()).error.code], [405, "method_not_allowed"]);
  } finally {
    await server.close();
  }
});

Deno.test("checkWithin reports a check that does not answer in time", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = await checkWithin(() => new Promise((r) => timer = setTimeout(r, 1000)), 10);
  clearTimeout(timer);
  assert.deepEqual(check, { ok: false, reason: "no answer within 10 ms" });
});

Deno.test("METRICS_PORT=off serves nothing; a port in use is an error naming it", async () => {
  const registry = new Registry();
  const config = { host: "127.0.0.1", metricsToken: undefined };
  assert.equal(
    await serveRoleMetrics({ ...config, metricsPort: "off" }, { role: "worker", registry }),
    undefined,
  );
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      serveRoleMetrics({ ...config, metricsPort: taken.addr.port }, {
        role: "scheduler",
        registry,
      }),
      new RegExp(`Cannot serve metrics on 127\\.0\\.0\\.1:${taken.addr.port}`),
    );
  } finally {
    taken.close();
  }
});
