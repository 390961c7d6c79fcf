/**
 * `deno task test [deno test options and paths]`: finds Postgres and Redis for the tests, starts
 * private ones when nothing answers (if the server binaries are installed), runs `deno test`, and
 * stops what it started.
 *
 * Tests reach Postgres at TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and
 * Redis at TEST_REDIS_URL (default redis://127.0.0.1:6379).
 */
import { connectPostgres } from "../shared/db/postgres_driver.ts";
import { hasBinary, startPrivateRedis } from "../shared/redis/private_server.ts";
import {
  canStartPrivatePostgres,
  startPrivatePostgres,
} from "../shared/testing/private_postgres.ts";
import { pingRedis } from "../shared/redis/redis.ts";

const stops: (() => Promise<void>)[] = [];
const problems: string[] = [];
const env: Record<string, string> = {};

async function pgAnswers(url: string): Promise<boolean> {
  const db = connectPostgres(url, { max: 1 });
  try {
    await Promise.race([
      db.query("select 1"),
      new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), 3000)),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    await db.close().catch(() => {});
  }
}

const pgUrl = Deno.env.get("TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
if (await pgAnswers(pgUrl)) {
  env.TEST_DATABASE_URL = pgUrl;
} else {
  const url = await (async () => {
    if (!(await canStartPrivatePostgres())) return undefined;
    const pg = await startPrivatePostgres({ database: "test", maxConnections: 300 });
    stops.push(pg.stop);
    return pg.url;
  })().catch((e) => {
    problems.push(`a private Postgres could not start (${String(e).trim()})`);
    return undefined;
  });
  if (url) {
    console.error(`Postgres did not answer at ${pgUrl}; started a private one at ${url}`);
    env.TEST_DATABASE_URL = url;
  } else if (problems.length === 0) {
    problems.push(
      `Postgres does not answer at ${pgUrl} and no server binaries (initdb, pg_ctl) are installed: ` +
        "start Postgres 15+ or set TEST_DATABASE_URL",
    );
  }
}

const redisUrl = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";
if (await pingRedis(redisUrl)) {
  env.TEST_REDIS_URL = redisUrl;
} else if (await hasBinary("redis-server")) {
  const r = await startPrivateRedis();
  stops.push(r.stop);
  console.error(`Redis did not answer at ${redisUrl}; started a private one at ${r.url}`);
  env.TEST_REDIS_URL = r.url;
} else {
  problems.push(
    `Redis does not answer at ${redisUrl} and redis-server is not installed: ` +
      "install Redis 6.2+ (apt install redis-server) or set TEST_REDIS_URL",
  );
}

let code = 1;
try {
  if (problems.length > 0) {
    console.error(`Cannot run the tests: ${problems.join("; ")}`);
  } else {
    const args = Deno.args.length > 0 ? Deno.args : [];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--parallel", ...args],
      env,
      stdin: "null",
    }).spawn();
    const stop = () => {
      try {
        child.kill("SIGINT");
      } catch { /* gone */ }
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    code = (await child.status).code;
  }
} finally {
  for (const s of stops.reverse()) await s().catch(() => {});
}
Deno.exit(code);
