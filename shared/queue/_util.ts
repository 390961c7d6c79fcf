/** Small helpers of the queue library (private). */

/** `[k1, v1, k2, v2, ...]` (or a RESP3 map, as a Map or an object) as a Map of strings. */
export function fieldMap(fields: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(fields)) {
    for (let i = 0; i + 1 < fields.length; i += 2) m.set(String(fields[i]), String(fields[i + 1]));
  } else if (fields instanceof Map) {
    for (const [k, v] of fields) m.set(String(k), String(v));
  } else if (fields && typeof fields === "object") {
    for (const [k, v] of Object.entries(fields)) m.set(k, String(v));
  }
  return m;
}

/** Parses a JSON text that may be empty (`undefined`). */
export function parseOptionalJson(text: string | undefined): unknown {
  if (text === undefined || text === "") return undefined;
  return JSON.parse(text);
}
