/**
 * Request ids end to end: the API takes the caller's `x-request-id` (or makes one), echoes it,
 * and the worker's log lines for the operation that request started carry it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configureLogging, type LogLevel } from "@semantik/shared";
import { waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { createApiTestEnv } from "./helpers/api_env.ts";

/** Captures every JSON log line of the process while `fn` runs. */
async function capturingLogs(fn: (lines: Record<string, unknown>[]) => Promise<void>) {
  const lines: Record<string, unknown>[] = [];
  configureLogging({
    level: "debug",
    format: "json",
    sink: (_level: LogLevel, line: string) => lines.push(JSON.parse(line)),
  });
  try {
    await fn(lines);
  } finally {
    configureLogging({
      level: "info",
      format: "pretty",
      sink: (l, s) => (l === "warn" || l === "error" ? console.error(s) : console.log(s)),
    });
  }
}

Deno.test("the worker's log lines for an operation carry the x-request-id of the request that started it", async () => {
  await capturingLogs(async (lines) => {
    const env = await createApiTestEnv();
    try {
      await startWorker(env.rt);
      const { token } = await env.user();
      await Deno.writeTextFile(join(env.docs, "a.txt"), "hello request ids");
      const requestId = `req-${crypto.randomUUID()}`;
      const created = await env.call("POST", "/api/v2/collections", {
        token,
        headers: { "x-request-id": requestId },
        body: { name: "traced", source: { type: "directory", path: env.docs } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.headers.get("x-request-id"), requestId);
      const operationId: string = created.body.operation.id;
      const done = await waitFor(`operation ${operationId} to complete`, async () => {
        const op = await env.call("GET", `/api/v2/operations/${operationId}`, { token });
        return op.body.status === "completed" || op.body.status === "failed" ? op.body : undefined;
      }, { timeoutMs: 30_000, intervalMs: 50 });
      assert.equal(done.status, "completed", JSON.stringify(done));

      // Lines logged by the worker's handler (not by the HTTP layer) while it ran the operation.
      const workerLines = lines.filter((l) =>
        l.request_id === requestId && l.logger !== "http" && l.logger !== "api-test"
      );
      assert.ok(
        workerLines.length > 0,
        `no worker line carries ${requestId}; lines: ${
          JSON.stringify(lines.slice(0, 40))
        } naming the operation: ${
          JSON.stringify(lines.filter((l) => JSON.stringify(l).includes(operationId)))
        }`,
      );
      // Another request's operation does not inherit it.
      assert.ok(
        !lines.some((l) =>
          l.request_id === requestId && l.msg === "request" &&
          l.route !== "/api/v2/collections"
        ),
      );
    } finally {
      await env.cleanup();
    }
  });
});

Deno.test("a request without a usable x-request-id gets a generated one, echoed and logged", async () => {
  await capturingLogs(async (lines) => {
    const env = await createApiTestEnv();
    try {
      const plain = await env.call("GET", "/healthz");
      const generated = plain.headers.get("x-request-id");
      assert.match(
        generated ?? "",
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      for (const bad of ["has space", "x".repeat(129), "<script>", "a/b"]) {
        const res = await env.call("GET", "/healthz", { headers: { "x-request-id": bad } });
        const echoed = res.headers.get("x-request-id");
        assert.notEqual(echoed, bad);
        assert.match(echoed ?? "", /^[0-9a-f-]{36}$/);
      }
      const access = lines.filter((l) => l.msg === "request");
      assert.ok(access.some((l) => l.request_id === generated));
    } finally {
      await env.cleanup();
    }
  });
});

Deno.test("in production the API writes one access line per request at info level", async () => {
  await capturingLogs(async (lines) => {
    const env = await createApiTestEnv({ env: { ENVIRONMENT: "production" } });
    try {
      await env.call("GET", "/healthz", { headers: { "x-request-id": "prod-1" } });
      await env.call("GET", "/api/v2/collections/0b7f7d3e-0000-4000-8000-000000000000");
      const access = lines.filter((l) => l.msg === "request");
      assert.equal(access.length, 2, JSON.stringify(access));
      assert.deepEqual(
        access.map((l) => [l.level, l.method, l.route, l.status, l.request_id === "prod-1"]),
        // Refused by the auth middleware: the route is the pattern of what answered.
        [["info", "GET", "/healthz", 200, true], [
          "info",
          "GET",
          "/api/*",
          401,
          false,
        ]],
      );
    } finally {
      await env.cleanup();
    }
  });
});
