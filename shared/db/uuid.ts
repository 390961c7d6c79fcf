/** The one UUID pattern: what a `uuid` column accepts and what ids are checked against. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID in the usual 8-4-4-4-12 hex form (any version, any case). */
export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
