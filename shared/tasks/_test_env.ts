/** A real Postgres schema, a Redis key prefix and the task layer's pieces over them (tests only). */
import { createTestDb, type TestDb } from "../testing/db.ts";
import { createTestRedis, type TestRedis } from "../testing/redis.ts";
import { KeySpace } from "../redis/redis.ts";
import { EventPublisher, readOperationEvents } from "../events/event_publisher.ts";
import type { OperationEvent } from "../events/operation_event.ts";
import { QueueClient } from "../queue/queue_client.ts";
import { getLogger } from "../log/logger.ts";
import { insertOperation } from "../operations/operations.ts";
import type { OperationRow, OperationType } from "../operations/operation_types.ts";

export interface TaskTestEnv {
  t: TestDb;
  r: TestRedis;
  keys: KeySpace;
  events: EventPublisher;
  queues: QueueClient;
  log: ReturnType<typeof getLogger>;
  /** A user, a collection and a pending operation of `type`. */
  seedOperation(type?: OperationType, config?: Record<string, unknown>): Promise<OperationRow>;
  /** Every retained event of an operation, in order. */
  eventsOf(operationId: string): Promise<OperationEvent[]>;
  row(operationId: string): Promise<OperationRow>;
  /** The pieces `cancelOperation` takes. */
  queuesRuntime(): {
    db: TestDb["db"];
    redis: TestRedis["redis"];
    events: EventPublisher;
    queues: QueueClient;
    log: ReturnType<typeof getLogger>;
  };
  cleanup(): Promise<void>;
}

export async function createTaskTestEnv(): Promise<TaskTestEnv> {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  const keys = new KeySpace(r.prefix);
  const events = new EventPublisher(r.redis, keys);
  const queues = new QueueClient(r.redis, { prefix: r.prefix });
  const log = getLogger("test");
  let n = 0;
  return {
    t,
    r,
    keys,
    events,
    queues,
    log,
    async seedOperation(type = "index", config = {}) {
      const user = crypto.randomUUID();
      const coll = crypto.randomUUID();
      await t.db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
        user,
        `u${n++}_${user.slice(0, 8)}`,
      ]);
      await t.db.query(
        `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
           chunk_overlap, vector_store_name, status) values ($1, $2, 'c', 'm', 4, 100, 10, 'v', 'pending')`,
        [coll, user],
      );
      return await insertOperation(t.db, { collectionId: coll, ownerId: user, type, config });
    },
    async eventsOf(operationId) {
      return (await readOperationEvents(r.redis, { keys: events.keys, operationId })).events;
    },
    async row(operationId) {
      const [row] = await t.db.query<OperationRow>("select * from operations where id = $1", [
        operationId,
      ]);
      return row!;
    },
    queuesRuntime() {
      return { db: t.db, redis: r.redis, events, queues, log };
    },
    async cleanup() {
      await r.cleanup();
      await t.cleanup();
    },
  };
}
