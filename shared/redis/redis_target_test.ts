import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../config/config.ts";
import {
  describeRedisTarget,
  parseHostPort,
  RedisSettingsError,
  redisTargetEnv,
  redisTargetFromEnv,
} from "./redis_target.ts";

function issuesOf(env: Record<string, string>): { variable: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  assert.fail(`loadConfig(${JSON.stringify(env)}) accepted the settings`);
}

Deno.test("REDIS_URL alone: one node, TLS from rediss://", () => {
  assert.deepEqual(loadConfig({}).redis, {
    mode: "single",
    url: "redis://127.0.0.1:6379",
    username: undefined,
    password: undefined,
    tls: false,
  });
  const t = loadConfig({ REDIS_URL: "rediss://cache.example:6380", REDIS_PASSWORD: "pw" }).redis;
  assert.equal(t.mode, "single");
  assert.equal(t.tls, true);
  assert.equal(t.password, "pw");
});

Deno.test("REDIS_CLUSTER_NODES selects a cluster; IPv6 and names; credentials for every node", () => {
  const t = loadConfig({
    REDIS_CLUSTER_NODES: " 10.0.0.1:7000, redis-b.internal:7001,[::1]:7002 ",
    REDIS_USERNAME: "semantik",
    REDIS_PASSWORD: "s3cret",
  }).redis;
  assert.deepEqual(t, {
    mode: "cluster",
    nodes: [
      { host: "10.0.0.1", port: 7000 },
      { host: "redis-b.internal", port: 7001 },
      { host: "::1", port: 7002 },
    ],
    username: "semantik",
    password: "s3cret",
    tls: false,
  });
  // A rediss:// REDIS_URL (its default, left set) does not turn TLS on for a cluster.
  assert.equal(
    loadConfig({ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "rediss://x:1" }).redis.tls,
    false,
  );
  assert.equal(loadConfig({ REDIS_CLUSTER_NODES: "a:1", REDIS_TLS: "true" }).redis.tls, true);
});

Deno.test("REDIS_SENTINELS with REDIS_SENTINEL_NAME selects Sentinel", () => {
  const t = loadConfig({
    REDIS_SENTINELS: "s1:26379,s2:26379,s3:26379",
    REDIS_SENTINEL_NAME: "semantik-master",
    REDIS_SENTINEL_PASSWORD: "sp",
  }).redis;
  assert.equal(t.mode, "sentinel");
  assert.ok(t.mode === "sentinel");
  assert.deepEqual(t.sentinels.map((s) => `${s.host}:${s.port}`), [
    "s1:26379",
    "s2:26379",
    "s3:26379",
  ]);
  assert.equal(t.name, "semantik-master");
  assert.equal(t.sentinelPassword, "sp");
});

Deno.test("bad host:port lists are refused with the entry named", () => {
  for (
    const [value, says] of [
      ["10.0.0.1", /"10\.0\.0\.1" is not host:port/],
      ["a:7000,,b:7001", /empty entry/],
      ["a:7000,b:99999", /port out of range/],
      ["a:0", /port out of range/],
      ["http://a:7000", /is not host:port/],
      ["a:7000,a:7000", /a:7000 is listed twice/],
      ["a b:7000", /is not host:port/],
    ] as const
  ) {
    const issues = issuesOf({ REDIS_CLUSTER_NODES: value });
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.variable, "REDIS_CLUSTER_NODES");
    assert.match(issues[0]!.message, says);
    const s = issuesOf({ REDIS_SENTINELS: value, REDIS_SENTINEL_NAME: "m" });
    assert.equal(s[0]!.variable, "REDIS_SENTINELS");
    assert.match(s[0]!.message, says);
  }
});

Deno.test("contradictory or incomplete Redis settings are refused, each named", () => {
  assert.deepEqual(issuesOf({ REDIS_SENTINELS: "s1:26379" }).map((i) => i.variable), [
    "REDIS_SENTINEL_NAME",
  ]);
  assert.deepEqual(issuesOf({ REDIS_SENTINEL_NAME: "m" }).map((i) => i.variable), [
    "REDIS_SENTINELS",
  ]);
  assert.deepEqual(
    issuesOf({ REDIS_CLUSTER_NODES: "a:1", REDIS_SENTINELS: "s:2", REDIS_SENTINEL_NAME: "m" })
      .map((i) => i.variable),
    ["REDIS_CLUSTER_NODES"],
  );
  assert.deepEqual(issuesOf({ REDIS_USERNAME: "u" }).map((i) => i.variable), ["REDIS_PASSWORD"]);
  assert.deepEqual(issuesOf({ REDIS_SENTINEL_NAME: "bad name" }).map((i) => i.variable), [
    "REDIS_SENTINEL_NAME",
  ]);
  assert.deepEqual(
    issuesOf({ REDIS_URL: "rediss://a:1", REDIS_TLS: "false" }).map((i) => i.variable),
    ["REDIS_TLS"],
  );
  // A value the schema refuses is reported first, with the other refused values.
  assert.deepEqual(
    issuesOf({ REDIS_SENTINELS: "s1:1", PORT: "x" }).map((i) => i.variable).sort(),
    ["PORT"],
  );
});

Deno.test("REDIS_TLS_CA: a PEM file turns TLS on and is passed on by path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pem = `${dir}/ca.pem`;
    await Deno.writeTextFile(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const t = loadConfig({ REDIS_CLUSTER_NODES: "a:7000", REDIS_TLS_CA: pem }).redis;
    assert.equal(t.tls, true);
    assert.match(t.tlsCa!, /BEGIN CERTIFICATE/);
    assert.deepEqual(redisTargetEnv(t), {
      REDIS_CLUSTER_NODES: "a:7000",
      REDIS_TLS: "true",
      REDIS_TLS_CA: pem,
    });
    const notPem = `${dir}/key.txt`;
    await Deno.writeTextFile(notPem, "hello");
    assert.match(issuesOf({ REDIS_TLS_CA: notPem })[0]!.message, /holds no PEM certificate/);
    const missing = issuesOf({ REDIS_TLS_CA: `${dir}/nope.pem` });
    assert.equal(missing[0]!.variable, "REDIS_TLS_CA");
    assert.match(missing[0]!.message, /cannot read .*nope\.pem/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("redisTargetFromEnv() and redisTargetEnv() round-trip every mode", () => {
  for (
    const env of [
      { REDIS_URL: "redis://h:1/2" },
      { REDIS_CLUSTER_NODES: "a:1,[::1]:2", REDIS_USERNAME: "u", REDIS_PASSWORD: "p" },
      {
        REDIS_SENTINELS: "s:1,t:2",
        REDIS_SENTINEL_NAME: "m",
        REDIS_SENTINEL_PASSWORD: "x",
        REDIS_TLS: "true",
      },
    ]
  ) {
    assert.deepEqual(redisTargetEnv(redisTargetFromEnv(env)), env);
  }
  assert.throws(
    () => redisTargetFromEnv({ REDIS_CLUSTER_NODES: "nope" }),
    (err) => err instanceof RedisSettingsError && err.issues[0]!.variable === "REDIS_CLUSTER_NODES",
  );
});

Deno.test("parseHostPort() and describeRedisTarget() never show a password", () => {
  assert.deepEqual(parseHostPort("[fe80::1]:6379"), { host: "fe80::1", port: 6379 });
  assert.equal(
    describeRedisTarget(redisTargetFromEnv({ REDIS_URL: "redis://user:pw@h:6379/0" })),
    "redis://h:6379/0",
  );
  assert.equal(
    describeRedisTarget(
      redisTargetFromEnv({ REDIS_CLUSTER_NODES: "a:1,b:2", REDIS_PASSWORD: "pw" }),
    ),
    "cluster a:1,b:2",
  );
});
