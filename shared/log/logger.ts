/**
 * One logger for every process: JSON lines in production, readable lines in development.
 * Loggers are cheap; `child()` adds fields (a worker id, an operation id) to every line, and
 * {@link withLogFields} adds fields to every line written while an operation runs (a request
 * id), whichever logger writes it.
 *
 * An Error field keeps its name, message, stack and `cause` chain (an object in JSON; the stack
 * on the following lines in the readable format). The line's own keys (`time`, `level`,
 * `logger`, `msg`) cannot be overwritten by a field: such a field is written as `field_<key>`.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { LogLevel } from "../config/config.ts";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/** Options of {@link configureLogging}. */
export interface LoggingOptions {
  /** Lowest level written. @default {"info"} */
  level?: LogLevel;
  /** `json` writes one JSON object a line; `pretty` a readable line. @default {"pretty"} */
  format?: "json" | "pretty";
  /** Where lines go. @default {console.error for warn/error, console.log otherwise} */
  sink?: (level: LogLevel, line: string) => void;
}

const defaultSink = (level: LogLevel, line: string) => {
  if (level === "warn" || level === "error") console.error(line);
  else console.log(line);
};

const state: Required<LoggingOptions> = { level: "info", format: "pretty", sink: defaultSink };

/** Sets the level, format and sink for every logger in this process. */
export function configureLogging(options: LoggingOptions): void {
  if (options.level) state.level = options.level;
  if (options.format) state.format = options.format;
  if (options.sink) state.sink = options.sink;
}

const context = new AsyncLocalStorage<LogFields>();

/**
 * Runs `fn` with `fields` added to every line logged until it settles (and by whatever it starts:
 * the fields follow promises and timers), on top of the fields of an enclosing call.
 */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/** The fields {@link withLogFields} set for the code running now. */
export function currentLogFields(): Readonly<LogFields> {
  return context.getStore() ?? {};
}

export class Logger {
  readonly name: string;
  readonly fields: LogFields;

  constructor(name: string, fields: LogFields = {}) {
    this.name = name;
    this.fields = fields;
  }

  child(fields: LogFields, name = this.name): Logger {
    return new Logger(name, { ...this.fields, ...fields });
  }

  debug(msg: string, fields?: LogFields): void {
    this.#write("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#write("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#write("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#write("error", msg, fields);
  }

  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[state.level];
  }

  #write(level: LogLevel, msg: string, extra?: LogFields) {
    if (!this.enabled(level)) return;
    const scoped = context.getStore();
    const fields = scoped || extra ? { ...scoped, ...this.fields, ...extra } : this.fields;
    state.sink(level, formatLine(state.format, { level, name: this.name, msg, fields }));
  }
}

export function formatLine(
  format: "json" | "pretty",
  { level, name, msg, fields }: { level: LogLevel; name: string; msg: string; fields: LogFields },
): string {
  const time = new Date().toISOString();
  if (format === "json") {
    // serialise() renames fields named like these keys, so a field cannot replace them.
    return safeJson({ time, level, logger: name, msg, ...serialise(fields) });
  }
  const stacks: string[] = [];
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      const key = RESERVED.has(k) ? `field_${k}` : k;
      if (v instanceof Error) {
        stacks.push(readableError(v, "  "));
        return `${key}=${JSON.stringify(`${v.name}: ${v.message}`)}`;
      }
      return `${key}=${typeof v === "string" ? v : safeJson(v)}`;
    })
    .join(" ");
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} [${name}] ${msg}${
    rest ? " " + rest : ""
  }${stacks.map((s) => "\n" + s).join("")}`;
}

/** The keys of a line itself, which no field may overwrite. */
const RESERVED = new Set(["time", "level", "logger", "msg"]);

/** Errors nest this deep through `cause` at most (a cycle stops there too). */
const MAX_CAUSE_DEPTH = 5;

/**
 * An Error as JSON: name, message, stack, its own plain properties (`code`, `errno`, `status`...:
 * strings, numbers and booleans only, so a library's error holding a socket cannot blow up the
 * line), and its cause.
 */
export function errorFields(err: Error, depth = 0): LogFields {
  const out: LogFields = { name: err.name, message: err.message };
  for (const [k, v] of Object.entries(err)) {
    if (k === "cause" || k === "stack") continue;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
  }
  if (err.stack) out.stack = err.stack;
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    out.cause = err.cause instanceof Error ? errorFields(err.cause, depth + 1) : err.cause;
  }
  return out;
}

function readableError(err: Error, indent: string, depth = 0): string {
  const stack = err.stack ?? `${err.name}: ${err.message}`;
  const lines = stack.split("\n").map((l) => indent + l.trim());
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    lines.push(
      err.cause instanceof Error
        ? indent + "caused by " + readableError(err.cause, indent, depth + 1).trimStart()
        : `${indent}caused by ${safeJson(err.cause)}`,
    );
  }
  return lines.join("\n");
}

/** JSON of `v`; circular references and BigInts (which JSON.stringify throws on) are written as text. */
function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(v, (_k, x) => {
      if (typeof x === "bigint") return x.toString();
      if (typeof x === "object" && x !== null) {
        if (seen.has(x)) return "[Circular]";
        seen.add(x);
      }
      return x;
    }) ?? String(v);
  }
}

function serialise(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    const key = RESERVED.has(k) ? `field_${k}` : k;
    if (v instanceof Error) out[key] = errorFields(v);
    else if (v !== undefined) out[key] = v;
  }
  return out;
}

/** A logger named for a component. */
export function getLogger(name: string, fields?: LogFields): Logger {
  return new Logger(name, fields);
}
