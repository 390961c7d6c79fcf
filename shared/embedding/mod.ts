/**
 * Embedding: model directories and their registry, the default model's converter, tokenising,
 * token-budget batching, execution devices and GPU memory checks.
 */
export * from "./embedder.ts";
export * from "./model_registry.ts";
export * from "./model_config.ts";
export * from "./default_model.ts";
export * from "./device_selector.ts";
export * from "./gpu_memory.ts";
export * from "./text_tokenizer.ts";
export * from "./batch_planner.ts";
export * from "./adaptive_budget.ts";
export * from "./out_of_memory.ts";
export * from "./inference_runner.ts";
export * from "./worker_inference_runner.ts";
export * from "./precision.ts";
export * from "./cpu_threads.ts";
export * from "./cross_encoder.ts";
