/**
 * The operation filters of `GET /api/v2/operations` (query) and `POST /api/v2/operations/cancel`
 * (JSON body): `status` and `type` as comma-separated lists (the body also takes arrays),
 * `collection_id`, `created_after` (inclusive) and `created_before` (exclusive) as ISO 8601.
 */
import { z } from "@hono/zod-openapi";
import {
  OPERATION_STATUSES,
  OPERATION_TYPES,
  type OperationFilter,
  type OperationStatus,
  type OperationType,
} from "@semantik/shared";

function commaList<T extends string>(values: readonly T[], what: string) {
  const one = values.join("|");
  return z.string().max(512).regex(
    new RegExp(`^(${one})(,(${one}))*$`),
    `${what}: a comma-separated list of ${values.join(", ")}`,
  );
}

const isoTime = z.union([z.iso.datetime({ offset: true }), z.iso.date()]).describe(
  "ISO 8601 date or date-time (a date is its midnight UTC)",
);

export const timeOrder = (v: { created_after?: string; created_before?: string }) =>
  !v.created_after || !v.created_before ||
  Date.parse(v.created_after) <= Date.parse(v.created_before);
export const timeOrderError = {
  message: "created_after must not be later than created_before",
  path: ["created_after"],
};

/** The query of `GET /api/v2/operations` (paging fields added by the route). */
export const operationFilterQuery = z.object({
  status: commaList(OPERATION_STATUSES, "status").optional(),
  type: commaList(OPERATION_TYPES, "type").optional(),
  collection_id: z.uuid().optional(),
  created_after: isoTime.optional(),
  created_before: isoTime.optional(),
});

const listOrArray = <T extends string>(values: readonly T[], what: string) =>
  z.union([commaList(values, what), z.array(z.enum(values as [T, ...T[]])).min(1).max(16)]);

/**
 * The body of `POST /api/v2/operations/cancel`. Unknown fields are refused (a misspelt filter
 * must not widen a bulk cancel); an empty body selects all of the caller's active operations.
 */
export const bulkCancelBody = z.strictObject({
  status: listOrArray(OPERATION_STATUSES, "status").optional(),
  type: listOrArray(OPERATION_TYPES, "type").optional(),
  collection_id: z.uuid().optional(),
  created_after: isoTime.optional(),
  created_before: isoTime.optional(),
}).refine(timeOrder, timeOrderError).openapi("OperationFilter");

export type OperationFilterInput = {
  status?: string | string[];
  type?: string | string[];
  collection_id?: string;
  created_after?: string;
  created_before?: string;
};

const split = (v: string | string[]) => Array.isArray(v) ? v : v.split(",");

/** The domain filter of validated input. */
export function toOperationFilter(input: OperationFilterInput): OperationFilter {
  return {
    statuses: input.status === undefined
      ? undefined
      : [...new Set(split(input.status))] as OperationStatus[],
    types: input.type === undefined
      ? undefined
      : [...new Set(split(input.type))] as OperationType[],
    collectionId: input.collection_id,
    createdAfter: input.created_after ? new Date(input.created_after) : undefined,
    createdBefore: input.created_before ? new Date(input.created_before) : undefined,
  };
}
