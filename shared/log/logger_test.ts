import assert from "node:assert/strict";
import {
  configureLogging,
  currentLogFields,
  formatLine,
  getLogger,
  withLogFields,
} from "./logger.ts";
import type { LogLevel } from "../config/config.ts";

Deno.test("formatLine() writes one JSON object per line in json format", () => {
  const line = formatLine("json", {
    level: "warn",
    name: "queue",
    msg: "job failed",
    fields: {
      job: "j1",
      err: new Error("boom"),
      skip: undefined,
    },
  });
  const obj = JSON.parse(line);
  assert.equal(obj.level, "warn");
  assert.equal(obj.logger, "queue");
  assert.equal(obj.msg, "job failed");
  assert.equal(obj.job, "j1");
  assert.equal(obj.err.message, "boom");
  assert.equal(obj.err.name, "Error");
  assert.ok(!("skip" in obj));
  assert.ok(!line.includes("\n"));
});

Deno.test("Logger filters below the configured level and carries child fields", () => {
  const lines: [LogLevel, string][] = [];
  configureLogging({ level: "info", format: "json", sink: (l, s) => lines.push([l, s]) });
  try {
    const log = getLogger("t").child({ worker: "w1" });
    log.debug("hidden");
    log.info("shown", { n: 1 });
    assert.equal(lines.length, 1);
    const obj = JSON.parse(lines[0]![1]);
    assert.equal(obj.worker, "w1");
    assert.equal(obj.n, 1);
  } finally {
    configureLogging({
      level: "info",
      format: "pretty",
      sink: (l, s) => (l === "warn" || l === "error" ? console.error(s) : console.log(s)),
    });
  }
});

Deno.test("an error field keeps its stack, its code and its cause chain in JSON", () => {
  const root = Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
  const err = new Error("cannot enqueue job", { cause: root });
  const obj = JSON.parse(
    formatLine("json", { level: "error", name: "q", msg: "failed", fields: { err } }),
  );
  assert.equal(obj.err.message, "cannot enqueue job");
  assert.match(obj.err.stack, /cannot enqueue job\n\s+at /);
  assert.equal(obj.err.cause.message, "connection refused");
  assert.equal(obj.err.cause.code, "ECONNREFUSED");
  assert.match(obj.err.cause.stack, /connection refused\n\s+at /);
});

Deno.test("a cause that is not an Error, and a cyclic cause chain, are written without failing", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  const obj = JSON.parse(
    formatLine("json", {
      level: "error",
      name: "q",
      msg: "m",
      fields: { err: b, other: new Error("x", { cause: { id: 7 } }) },
    }),
  );
  assert.equal(obj.err.cause.message, "a");
  assert.deepEqual(obj.other.cause, { id: 7 });
  assert.ok(
    formatLine("pretty", { level: "error", name: "q", msg: "m", fields: { err: b } }).includes(
      "caused by",
    ),
  );
});

Deno.test("the readable format writes an error's stack and cause on the following lines", () => {
  const err = new Error("outer", { cause: new TypeError("inner") });
  const line = formatLine("pretty", {
    level: "error",
    name: "api",
    msg: "unhandled error",
    fields: { err, path: "/x" },
  });
  const [first, ...rest] = line.split("\n");
  assert.match(first!, /unhandled error err="Error: outer" path=\/x$/);
  assert.ok(rest.some((l) => /^\s+at /.test(l)), line);
  assert.ok(rest.some((l) => /caused by TypeError: inner/.test(l)), line);
});

Deno.test("fields cannot overwrite msg, level, logger or time", () => {
  const fields = { msg: "forged", level: "debug", logger: "x", time: "then", n: 1 };
  const obj = JSON.parse(
    formatLine("json", { level: "warn", name: "real", msg: "the message", fields }),
  );
  assert.equal(obj.msg, "the message");
  assert.equal(obj.level, "warn");
  assert.equal(obj.logger, "real");
  assert.notEqual(obj.time, "then");
  assert.equal(obj.field_msg, "forged");
  assert.equal(obj.field_level, "debug");
  const pretty = formatLine("pretty", { level: "warn", name: "real", msg: "the message", fields });
  assert.match(pretty, /\[real\] the message field_msg=forged field_level=debug/);
});

Deno.test("withLogFields adds its fields to lines logged across awaits, and only inside", async () => {
  const lines: string[] = [];
  configureLogging({ level: "info", format: "json", sink: (_l, s) => lines.push(s) });
  try {
    const log = getLogger("t").child({ worker: "w1" });
    await withLogFields({ request_id: "r-1" }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      log.info("inside");
      await withLogFields({ step: 2 }, async () => {
        await Promise.resolve();
        log.info("nested", { request_id: "explicit" });
      });
      assert.deepEqual(currentLogFields(), { request_id: "r-1" });
    });
    log.info("outside");
    const [inside, nested, outside] = lines.map((l) => JSON.parse(l));
    assert.equal(inside.request_id, "r-1");
    assert.equal(inside.worker, "w1");
    assert.equal(nested.step, 2);
    assert.equal(nested.request_id, "explicit");
    assert.ok(!("request_id" in outside), lines[2]);
  } finally {
    configureLogging({
      level: "info",
      format: "pretty",
      sink: (l, s) => (l === "warn" || l === "error" ? console.error(s) : console.log(s)),
    });
  }
});

Deno.test("a line with a circular or BigInt field is still written", () => {
  const loop: Record<string, unknown> = { id: 1 };
  loop.self = loop;
  const err = Object.assign(new Error("socket closed"), { socket: loop, code: "EPIPE" });
  const obj = JSON.parse(
    formatLine("json", { level: "error", name: "q", msg: "m", fields: { loop, big: 10n, err } }),
  );
  assert.equal(obj.loop.self, "[Circular]");
  assert.equal(obj.big, "10");
  assert.equal(obj.err.code, "EPIPE");
  assert.ok(!("socket" in obj.err));
  assert.match(
    formatLine("pretty", { level: "error", name: "q", msg: "m", fields: { loop } }),
    /loop=\{"id":1,"self":"\[Circular\]"\}/,
  );
});
