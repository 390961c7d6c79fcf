/**
 * One logger for every process: JSON lines in production, readable lines in development.
 * Loggers are cheap; `child()` adds fields (a worker id, an operation id) to every line.
 */
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
    const fields = extra ? { ...this.fields, ...extra } : this.fields;
    state.sink(level, formatLine(state.format, level, this.name, msg, fields));
  }
}

export function formatLine(
  format: "json" | "pretty",
  level: LogLevel,
  name: string,
  msg: string,
  fields: LogFields,
): string {
  const time = new Date().toISOString();
  if (format === "json") {
    return JSON.stringify({ time, level, logger: name, msg, ...serialise(fields) });
  }
  const rest = Object.entries(serialise(fields))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} [${name}] ${msg}${
    rest ? " " + rest : ""
  }`;
}

function serialise(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof Error) out[k] = v.message;
    else if (v !== undefined) out[k] = v;
  }
  return out;
}

/** A logger named for a component. */
export function getLogger(name: string, fields?: LogFields): Logger {
  return new Logger(name, fields);
}
