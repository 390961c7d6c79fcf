/** The task the test worker processes run (shared by tests/procs/queue_worker.ts and the tests). */
import { z } from "zod";
import { defineTask } from "../../shared/queue/task.ts";

export const workTask = defineTask("test.work", z.object({ ms: z.number().int().min(0) }), {
  maxAttempts: 5,
  backoff: { delayMs: 50 },
});
