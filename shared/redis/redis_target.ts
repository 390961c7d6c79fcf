/**
 * Where Redis is: one node (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES`) or a master
 * found through Sentinel (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`), with credentials and TLS for
 * all three. The zod schemas here are part of the settings schema (`shared/config/config.ts`);
 * {@link redisTargetFromEnv} reads the same variables for processes that take no full config.
 */
import { z } from "zod";

export interface HostPort {
  host: string;
  port: number;
}

/** Credentials and TLS, the same for every mode. */
export interface RedisAuth {
  /** ACL user (`AUTH user password`); undefined: the default user. */
  username?: string;
  password?: string;
  /** Connect with TLS. */
  tls: boolean;
  /** PEM text of the CA that signed the servers' certificates; undefined: the system's CAs. */
  tlsCa?: string;
  /** The file {@link tlsCa} was read from (`REDIS_TLS_CA`), to pass on to child processes. */
  tlsCaPath?: string;
}

/** One node at `url` (`redis://` or `rediss://`). */
export interface SingleTarget extends RedisAuth {
  mode: "single";
  url: string;
}

/** A Redis Cluster, discovered from any of `nodes`. */
export interface ClusterTarget extends RedisAuth {
  mode: "cluster";
  nodes: HostPort[];
}

/** The master that `sentinels` name `name`, followed through failovers. */
export interface SentinelTarget extends RedisAuth {
  mode: "sentinel";
  sentinels: HostPort[];
  name: string;
  /** Password of the sentinels themselves; undefined: they ask for none. */
  sentinelPassword?: string;
}

export type RedisTarget = SingleTarget | ClusterTarget | SentinelTarget;

const blank = (v: unknown) => typeof v === "string" && v.trim() === "" ? undefined : v;

/** Parses `host:port` (`[v6]:port` for IPv6); throws a message naming what is wrong. */
export function parseHostPort(entry: string): HostPort {
  const s = entry.trim();
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(s);
  if (!m) {
    throw new Error(`${JSON.stringify(s)} is not host:port`);
  }
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`${JSON.stringify(s)}: port out of range`);
  return { host: m[1] ?? m[2]!, port };
}

/** A comma-separated `host:port` list: at least one entry, no duplicates. */
export const hostPortList = z.preprocess(
  blank,
  z.string().optional().transform((v, ctx) => {
    if (v === undefined) return undefined;
    const entries = v.split(",").map((s) => s.trim());
    const out: HostPort[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      if (e === "") {
        ctx.addIssue({ code: "custom", message: "empty entry in the host:port list" });
        return z.NEVER;
      }
      let hp: HostPort;
      try {
        hp = parseHostPort(e);
      } catch (err) {
        ctx.addIssue({
          code: "custom",
          message: `${(err as Error).message} (expected host:port,host:port,...)`,
        });
        return z.NEVER;
      }
      const k = `${hp.host}:${hp.port}`;
      if (seen.has(k)) {
        ctx.addIssue({ code: "custom", message: `${k} is listed twice` });
        return z.NEVER;
      }
      seen.add(k);
      out.push(hp);
    }
    return out;
  }),
);

const redisUrl = z.preprocess(
  blank,
  z.string().default("redis://127.0.0.1:6379").refine((v) => {
    try {
      return ["redis:", "rediss:"].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, "must be a redis:// or rediss:// URL"),
);

const boolFlag = z.preprocess(
  blank,
  z.enum(["true", "false", "1", "0", "yes", "no"]).optional()
    .transform((v) => v === undefined ? undefined : v === "true" || v === "1" || v === "yes"),
);

/** The Redis variables of the settings schema (merged into `shared/config/config.ts`'s). */
export const redisEnvShape = {
  REDIS_URL: redisUrl,
  REDIS_CLUSTER_NODES: hostPortList,
  REDIS_SENTINELS: hostPortList,
  REDIS_SENTINEL_NAME: z.preprocess(
    blank,
    z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, "may hold letters, digits and _ . - only")
      .optional(),
  ),
  REDIS_SENTINEL_PASSWORD: z.preprocess(blank, z.string().optional()),
  REDIS_USERNAME: z.preprocess(blank, z.string().optional()),
  REDIS_PASSWORD: z.preprocess(blank, z.string().optional()),
  REDIS_TLS: boolFlag,
  REDIS_TLS_CA: z.preprocess(blank, z.string().optional()),
};

const redisEnvSchema = z.object(redisEnvShape);
export type RedisEnv = z.infer<typeof redisEnvSchema>;

/** Thrown by {@link redisTargetOf} and {@link redisTargetFromEnv}; one entry per bad variable. */
export class RedisSettingsError extends Error {
  readonly issues: { variable: string; message: string }[];
  constructor(issues: { variable: string; message: string }[]) {
    super(`Invalid Redis settings: ${issues.map((i) => `${i.variable}: ${i.message}`).join("; ")}`);
    this.name = "RedisSettingsError";
    this.issues = issues;
  }
}

/**
 * The target the parsed variables describe, or the issues that stop it: both cluster and sentinel
 * set, sentinels without a name (or a name without sentinels), an unreadable or non-PEM CA file.
 * `readFile` reads `REDIS_TLS_CA` (tests pass their own).
 */
export function redisTargetOf(
  e: RedisEnv,
  readFile: (path: string) => string = Deno.readTextFileSync,
): RedisTarget {
  const issues: { variable: string; message: string }[] = [];
  if (e.REDIS_CLUSTER_NODES && e.REDIS_SENTINELS) {
    issues.push({
      variable: "REDIS_CLUSTER_NODES",
      message: "set either REDIS_CLUSTER_NODES (Redis Cluster) or REDIS_SENTINELS (Sentinel), " +
        "not both",
    });
  }
  if (e.REDIS_SENTINELS && !e.REDIS_SENTINEL_NAME) {
    issues.push({
      variable: "REDIS_SENTINEL_NAME",
      message: "required with REDIS_SENTINELS (the master's name in the sentinels' config)",
    });
  }
  if (e.REDIS_SENTINEL_NAME && !e.REDIS_SENTINELS) {
    issues.push({
      variable: "REDIS_SENTINELS",
      message: "required with REDIS_SENTINEL_NAME (comma-separated host:port of the sentinels)",
    });
  }
  if (e.REDIS_USERNAME && !e.REDIS_PASSWORD) {
    issues.push({ variable: "REDIS_PASSWORD", message: "required with REDIS_USERNAME" });
  }
  let tlsCa: string | undefined;
  if (e.REDIS_TLS_CA) {
    try {
      tlsCa = readFile(e.REDIS_TLS_CA);
      if (!tlsCa.includes("-----BEGIN CERTIFICATE-----")) {
        issues.push({
          variable: "REDIS_TLS_CA",
          message: `${e.REDIS_TLS_CA} holds no PEM certificate`,
        });
      }
    } catch (err) {
      issues.push({
        variable: "REDIS_TLS_CA",
        message: `cannot read ${e.REDIS_TLS_CA}: ${(err as Error).message}`,
      });
    }
  }
  const urlTls = new URL(e.REDIS_URL).protocol === "rediss:";
  if (e.REDIS_TLS === false && (urlTls || tlsCa !== undefined)) {
    issues.push({
      variable: "REDIS_TLS",
      message: "is false, but REDIS_URL is rediss:// or REDIS_TLS_CA is set",
    });
  }
  if (issues.length > 0) throw new RedisSettingsError(issues);
  const auth: RedisAuth = {
    username: e.REDIS_USERNAME,
    password: e.REDIS_PASSWORD,
    tls: e.REDIS_TLS ?? (tlsCa !== undefined || (!e.REDIS_CLUSTER_NODES && !e.REDIS_SENTINELS &&
      urlTls)),
    ...(tlsCa !== undefined ? { tlsCa, tlsCaPath: e.REDIS_TLS_CA } : {}),
  };
  if (e.REDIS_CLUSTER_NODES) return { mode: "cluster", nodes: e.REDIS_CLUSTER_NODES, ...auth };
  if (e.REDIS_SENTINELS) {
    return {
      mode: "sentinel",
      sentinels: e.REDIS_SENTINELS,
      name: e.REDIS_SENTINEL_NAME!,
      sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
      ...auth,
    };
  }
  return { mode: "single", url: e.REDIS_URL, ...auth, tls: auth.tls || urlTls };
}

/**
 * Reads the Redis variables of `env` (the process environment by default): for processes and
 * scripts that need only Redis. Throws {@link RedisSettingsError}.
 */
export function redisTargetFromEnv(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): RedisTarget {
  const parsed = redisEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new RedisSettingsError(
      parsed.error.issues.map((i) => ({ variable: String(i.path[0]), message: i.message })),
    );
  }
  return redisTargetOf(parsed.data);
}

/** The settings that select `target`, for a child process's environment. */
export function redisTargetEnv(target: RedisTarget): Record<string, string> {
  const env: Record<string, string> = {};
  const list = (hs: HostPort[]) =>
    hs.map((h) => h.host.includes(":") ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`).join(",");
  if (target.mode === "single") env.REDIS_URL = target.url;
  if (target.mode === "cluster") env.REDIS_CLUSTER_NODES = list(target.nodes);
  if (target.mode === "sentinel") {
    env.REDIS_SENTINELS = list(target.sentinels);
    env.REDIS_SENTINEL_NAME = target.name;
    if (target.sentinelPassword) env.REDIS_SENTINEL_PASSWORD = target.sentinelPassword;
  }
  if (target.username) env.REDIS_USERNAME = target.username;
  if (target.password) env.REDIS_PASSWORD = target.password;
  if (target.tls) env.REDIS_TLS = "true";
  if (target.tlsCaPath) env.REDIS_TLS_CA = target.tlsCaPath;
  return env;
}

/** A short description for logs, without credentials. */
export function describeRedisTarget(target: RedisTarget): string {
  const tls = target.tls ? " (tls)" : "";
  if (target.mode === "cluster") {
    return `cluster ${target.nodes.map((n) => `${n.host}:${n.port}`).join(",")}${tls}`;
  }
  if (target.mode === "sentinel") {
    return `sentinel ${target.name}@${
      target.sentinels.map((n) => `${n.host}:${n.port}`).join(",")
    }${tls}`;
  }
  const u = new URL(target.url);
  u.username = "";
  u.password = "";
  return u.toString() + tls;
}
