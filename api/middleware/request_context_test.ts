import assert from "node:assert/strict";
import { Hono } from "hono";
import { configureLogging, getLogger, type LogLevel } from "@semantik/shared";
import type { ApiEnv } from "../api_env.ts";
import { requestContext } from "./request_context.ts";

function capture(level: LogLevel): { lines: Record<string, unknown>[]; restore(): void } {
  const lines: Record<string, unknown>[] = [];
  configureLogging({ level, format: "json", sink: (_l, s) => lines.push(JSON.parse(s)) });
  return {
    lines,
    restore: () =>
      configureLogging({
        level: "info",
        format: "pretty",
        sink: (l, s) => (l === "warn" || l === "error" ? console.error(s) : console.log(s)),
      }),
  };
}

function app(level: "info" | "debug") {
  const a = new Hono<ApiEnv>();
  a.use("*", requestContext(getLogger("http"), { accessLogLevel: level }));
  a.get("/things/:id", (c) => {
    getLogger("route").info("inside", { id: c.req.param("id") });
    return c.json({ request_id: c.get("requestId") });
  });
  a.get("/boom", () => {
    throw new Error("boom");
  });
  a.onError((_err, c) => c.json({ error: { code: "internal" } }, 500));
  return a;
}

Deno.test("one access line per request: method, route pattern, status, duration, request id", async () => {
  const { lines, restore } = capture("info");
  try {
    const res = await app("info").request("/things/42?x=1", {
      headers: { "x-request-id": "abc-1" },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-request-id"), "abc-1");
    assert.deepEqual(await res.json(), { request_id: "abc-1" });
    const access = lines.filter((l) => l.msg === "request");
    assert.equal(access.length, 1);
    const [line] = access;
    assert.equal(line!.method, "GET");
    assert.equal(line!.route, "/things/:id");
    assert.equal(line!.status, 200);
    assert.equal(typeof line!.duration_ms, "number");
    assert.equal(line!.request_id, "abc-1");
    assert.equal(line!.level, "info");
    // A line the route wrote carries the id too.
    assert.equal(lines.find((l) => l.msg === "inside")?.request_id, "abc-1");

    await app("info").request("/boom");
    const failed = lines.filter((l) => l.msg === "request").at(-1)!;
    assert.equal(failed.status, 500);
    assert.equal(failed.route, "/boom");
  } finally {
    restore();
  }
});

Deno.test("the access line is at debug level when asked (development): hidden at info", async () => {
  const { lines, restore } = capture("info");
  try {
    const res = await app("debug").request("/things/1");
    assert.match(res.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(lines.filter((l) => l.msg === "request").length, 0);
  } finally {
    restore();
  }
});
