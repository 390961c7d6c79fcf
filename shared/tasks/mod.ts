/** The task layer: task definitions, the task context, operation handlers, cancel, retry, replies. */
export * from "./definitions.ts";
export * from "./task_context.ts";
export * from "./dispatch.ts";
export * from "./cancel_listener.ts";
export * from "./replies.ts";
