/** Prometheus metrics: the process registry, role-independent metrics, the metrics endpoint. */
export * from "./metrics_registry.ts";
export * from "./embedding_metrics.ts";
export * from "./gpu_memory_metrics.ts";
export * from "./metrics_server.ts";
