import assert from "node:assert/strict";
import { configureLogging, formatLine, getLogger } from "./logger.ts";
import type { LogLevel } from "../config/config.ts";

Deno.test("formatLine() writes one JSON object per line in json format", () => {
  const line = formatLine("json", "warn", "queue", "job failed", {
    job: "j1",
    err: new Error("boom"),
    skip: undefined,
  });
  const obj = JSON.parse(line);
  assert.equal(obj.level, "warn");
  assert.equal(obj.logger, "queue");
  assert.equal(obj.msg, "job failed");
  assert.equal(obj.job, "j1");
  assert.equal(obj.err, "boom");
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
