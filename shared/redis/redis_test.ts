import assert from "node:assert/strict";
import {
  createRedis,
  isCluster,
  keySlot,
  KeySpace,
  masterNodes,
  nodeAddress,
  nodeForKey,
  pingRedis,
  reconnectDelay,
  scanAllNodes,
} from "./redis.ts";
import { freePort, hasBinary } from "./private_server.ts";
import { loadConfig } from "../config/config.ts";
import { testRedisIsCluster, withTestRedis } from "../testing/redis.ts";

Deno.test("KeySpace.key() prefixes every key explicitly", () => {
  const k = new KeySpace("semantik:");
  assert.equal(k.key("{q:default}", "stream"), "semantik:{q:default}:stream");
});

Deno.test("keySlot() gives the slots of the Redis Cluster specification", () => {
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("bar"), 5061);
  assert.equal(keySlot("{user1000}.following"), keySlot("user1000"));
  assert.equal(keySlot("foo{}{bar}") === keySlot("bar"), false, "an empty tag does not count");
  assert.equal(keySlot("foo{bar}{zap}"), keySlot("bar"));
});

Deno.test("reconnectDelay() grows, is capped and jittered", () => {
  for (let a = 0; a < 20; a++) {
    const d = reconnectDelay(a);
    assert.ok(d >= 0 && d <= 2000, String(d));
  }
  assert.ok(reconnectDelay(10) >= 1000);
});

Deno.test("createRedis() names its connection and works with prefixed stream commands", async () => {
  await withTestRedis(async ({ target, prefix }) => {
    const keys = new KeySpace(prefix);
    const r = createRedis(target, { name: "test-conn" });
    try {
      const stream = keys.key("s");
      await r.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
      await r.xadd(stream, "*", "f", "v");
      assert.equal(await r.xlen(stream), 1);
      assert.equal(await r.client("GETNAME"), "test-conn");
    } finally {
      r.disconnect();
    }
  });
});

Deno.test("pingRedis() says false when nothing answers", async () => {
  assert.equal(await pingRedis("redis://127.0.0.1:1", 200), false);
});

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A CA and a server certificate for 127.0.0.1 signed by it, in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  const subj = (cn: string) => ["-subj", `/CN=${cn}`];
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    ...subj("semantik-test-ca"),
  ], dir);
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "srv.key",
    "-out",
    "srv.csr",
    ...subj("127.0.0.1"),
  ], dir);
  await Deno.writeTextFile(`${dir}/ext`, "subjectAltName=IP:127.0.0.1\n");
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    "srv.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "srv.pem",
    "-days",
    "1",
    "-extfile",
    "ext",
  ], dir);
}

async function hasOpenssl(): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const canTls = await hasOpenssl() && await hasBinary("redis-server");

Deno.test({
  name:
    "createRedis() speaks TLS with REDIS_TLS_CA and logs in as REDIS_USERNAME; refuses an unknown CA and a wrong password",
  ignore: !canTls,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "semantik-tls-" });
    const port = await freePort();
    let server: Deno.ChildProcess | undefined;
    try {
      await makeCertificates(dir);
      server = new Deno.Command("redis-server", {
        args: [
          "--port",
          "0",
          "--tls-port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--tls-cert-file",
          "srv.pem",
          "--tls-key-file",
          "srv.key",
          "--tls-ca-cert-file",
          "ca.pem",
          "--tls-auth-clients",
          "no",
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          dir,
          // One config line per `--user`, its words as separate arguments.
          "--user",
          "default",
          "off",
          "--user",
          "semantik",
          "on",
          ">s3cret",
          "~*",
          "&*",
          "+@all",
        ],
        cwd: dir,
        stdout: "null",
        stderr: "null",
      }).spawn();
      const env = {
        REDIS_URL: `rediss://127.0.0.1:${port}`,
        REDIS_TLS_CA: `${dir}/ca.pem`,
        REDIS_USERNAME: "semantik",
        REDIS_PASSWORD: "s3cret",
      };
      const target = loadConfig(env).redis;
      assert.equal(target.tls, true);
      let answered = false;
      for (let i = 0; i < 100 && !answered; i++) {
        answered = await pingRedis(target, 300);
        if (!answered) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(answered, "the TLS server answers with the CA and the user's password");
      const r = createRedis(target, { name: "test-tls" });
      try {
        assert.equal(await r.call("ACL", ["WHOAMI"]), "semantik");
      } finally {
        r.disconnect();
      }
      // Without the CA the server's certificate is not trusted; without TLS nothing answers;
      // a wrong password is refused.
      assert.equal(await pingRedis(loadConfig({ ...env, REDIS_TLS_CA: "" }).redis, 500), false);
      assert.equal(await pingRedis(`redis://127.0.0.1:${port}`, 500), false);
      assert.equal(
        await pingRedis(loadConfig({ ...env, REDIS_PASSWORD: "nope" }).redis, 500),
        false,
      );
    } finally {
      server?.kill("SIGKILL");
      await server?.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "on a cluster createRedis() gives a cluster client; nodeForKey() is the key's master; scans reach every master",
  ignore: !testRedisIsCluster(),
  fn: async () => {
    await withTestRedis(async ({ target, prefix, redis }) => {
      assert.equal(isCluster(redis), true);
      const masters = masterNodes(redis);
      assert.equal(masters.length, 3);
      const keys = Array.from({ length: 30 }, (_, i) => `${prefix}k${i}`);
      for (const k of keys) await redis.set(k, "1");
      const seen: string[] = [];
      const holders = new Set<string>();
      await scanAllNodes(redis, {
        pattern: `${prefix}*`,
        onKeys: async (found, node) => {
          seen.push(...found);
          holders.add(nodeAddress(node));
          await Promise.resolve();
        },
      });
      assert.deepEqual(seen.sort(), [...keys].sort());
      assert.equal(holders.size, 3, "30 keys spread over the 3 masters");
      for (const k of keys) {
        assert.equal(keySlot(k), Number(await redis.call("CLUSTER", ["KEYSLOT", k])), k);
      }
      for (const k of keys.slice(0, 5)) {
        const node = await nodeForKey(redis, k);
        // The node itself says it holds the key (no MOVED).
        assert.equal(await node.get(k), "1");
      }
      assert.equal(await pingRedis(target), true);
    });
  },
});
