/** Rows for the maintenance tests (private): users, collections, sources and operations. */
import {
  type OperationRow,
  type OperationStatus,
  type OperationType,
  type Queryable,
  type QueueClient,
  QueueWorker,
  type TaskDefinition,
  taskHandler,
} from "@semantik/shared";
import { type TestRedis, waitFor } from "@semantik/shared/testing";
import type { z } from "zod";

export interface SeedCollection {
  /** @default {"one_time"} */
  syncMode?: "one_time" | "continuous";
  /** @default {60} */
  intervalMinutes?: number;
  /** SQL expression for next_sync_at. @default {"null"} */
  nextSyncAt?: string;
  /** @default {"ready"} */
  status?: "pending" | "ready" | "processing" | "error" | "deleting";
  /** Add a source at this path. @default {undefined} */
  sourcePath?: string;
}

export class Seed {
  readonly db: Queryable;
  userId = "";
  #n = 0;

  constructor(db: Queryable) {
    this.db = db;
  }

  async user(): Promise<string> {
    this.userId = crypto.randomUUID();
    await this.db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
      this.userId,
      `u_${this.userId.slice(0, 8)}`,
    ]);
    return this.userId;
  }

  async collection(c: SeedCollection = {}): Promise<string> {
    if (!this.userId) await this.user();
    const id = crypto.randomUUID();
    await this.db.query(
      `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
         chunk_overlap, vector_store_name, status, sync_mode, sync_interval_minutes, next_sync_at)
       values ($1, $2, $3, 'm', 4, 100, 10, $4, $5, $6, $7, ${c.nextSyncAt ?? "null"})`,
      [
        id,
        this.userId,
        `c${this.#n++}`,
        `col_${id.replaceAll("-", "")}`,
        c.status ?? "ready",
        c.syncMode ?? "one_time",
        c.intervalMinutes ?? 60,
      ],
    );
    if (c.sourcePath) {
      await this.db.query(
        "insert into collection_sources (id, collection_id, path) values ($1, $2, $3)",
        [crypto.randomUUID(), id, c.sourcePath],
      );
    }
    return id;
  }

  /**
   * An operation with `status`, its timestamps set by SQL expressions (e.g. `now() - interval
   * '40 days'`); a new collection when none is given.
   */
  async operation(
    o: {
      type?: OperationType;
      status?: OperationStatus;
      collectionId?: string;
      /** SQL for created_at and updated_at. @default {"now()"} */
      at?: string;
      /** SQL for started_at. @default {processing/terminal: at} */
      startedAt?: string;
      /** SQL for completed_at. @default {terminal: at} */
      completedAt?: string;
      cancelRequested?: boolean;
    } = {},
  ): Promise<OperationRow> {
    const status = o.status ?? "pending";
    const at = o.at ?? "now()";
    const terminal = ["completed", "failed", "cancelled"].includes(status);
    const started = o.startedAt ?? (status === "pending" ? "null" : at);
    const completed = o.completedAt ?? (terminal ? at : "null");
    const collectionId = o.collectionId ?? await this.collection();
    const [row] = await this.db.query<OperationRow>(
      `insert into operations (id, collection_id, owner_id, type, status, created_at, updated_at,
         started_at, completed_at, cancel_requested_at)
       values ($1, $2, $3, $4, $5, ${at}, ${at}, ${started}, ${completed},
               ${o.cancelRequested ? "now()" : "null"})
       returning *`,
      [crypto.randomUUID(), collectionId, this.userId, o.type ?? "index", status],
    );
    return row!;
  }

  async row(id: string): Promise<OperationRow | undefined> {
    const [r] = await this.db.query<OperationRow>("select * from operations where id = $1", [id]);
    return r;
  }
}

/**
 * Runs job `jobId` of `task` (one attempt) through a worker whose plain handler throws `message`
 * (no operation wrapper, so the operation row stays as seeded), and waits for it to be dead.
 */
export async function deadLetterJob(
  r: TestRedis,
  queues: QueueClient,
  { task, jobId, message }: {
    task: TaskDefinition<z.ZodType<{ operation_id: string }>>;
    jobId: string;
    message: string;
  },
): Promise<void> {
  const worker = new QueueWorker("default", [
    taskHandler(task, () => {
      throw new Error(message);
    }),
  ], { redisUrl: r.target, prefix: r.prefix, consumer: "w", blockMs: 200 });
  const running = worker.run();
  try {
    await queues.enqueue(task, { operation_id: jobId }, { jobId, maxAttempts: 1 });
    await waitFor("the job to die", async () => (await queues.getJobState(jobId)) === "dead");
  } finally {
    await worker.close();
    await running;
  }
}
