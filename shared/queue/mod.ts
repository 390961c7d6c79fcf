/**
 * The job queue on Redis Streams: tasks, producers ({@link Queue}, {@link QueueClient}) and
 * consumers ({@link QueueWorker}). See docs/ARCHITECTURE.md, "Job queue".
 */
export * from "./counters.ts";
export * from "./delayed_mover.ts";
export * from "./emitter.ts";
export * from "./job.ts";
export * from "./keys.ts";
export * from "./queue.ts";
export * from "./queue_client.ts";
export * from "./queue_worker.ts";
export * from "./group_reader.ts";
export * from "./task.ts";
