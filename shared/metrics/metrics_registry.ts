/**
 * The Prometheus registry of a process. One per process: `deno task dev` runs every role on one
 * runtime, so the API's `/metrics` serves them all; a worker or scheduler process serves its own
 * on `METRICS_PORT`. Prometheus naming: `semantik_` prefix, counters end in `_total`, units in
 * the name (`_seconds`, `_bytes`); the default process metrics keep their stock names
 * (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`...) so stock dashboards work.
 */
import {
  collectDefaultMetrics,
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from "prom-client";

/** A registry with the default process metrics, unprefixed. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The counter `config.name` of `registry`, made on first use: a role started twice on one
 * registry (tests) shares its metrics instead of failing to register them again.
 */
export function counter<T extends string>(
  registry: Registry,
  config: Omit<CounterConfiguration<T>, "registers">,
): Counter<T> {
  return (registry.getSingleMetric(config.name) as Counter<T> | undefined) ??
    new Counter({ ...config, registers: [registry] });
}

/** The gauge `config.name` of `registry`, made on first use (see {@link counter}). */
export function gauge<T extends string>(
  registry: Registry,
  config: Omit<GaugeConfiguration<T>, "registers">,
): Gauge<T> {
  return (registry.getSingleMetric(config.name) as Gauge<T> | undefined) ??
    new Gauge({ ...config, registers: [registry] });
}

/** The histogram `config.name` of `registry`, made on first use (see {@link counter}). */
export function histogram<T extends string>(
  registry: Registry,
  config: Omit<HistogramConfiguration<T>, "registers">,
): Histogram<T> {
  return (registry.getSingleMetric(config.name) as Histogram<T> | undefined) ??
    new Histogram({ ...config, registers: [registry] });
}
