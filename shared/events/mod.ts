/** Operation events: ids, streams, publishing and replay. */
export * from "./event_keys.ts";
export * from "./operation_event.ts";
export * from "./event_publisher.ts";
export * from "./snapshot_reader.ts";
