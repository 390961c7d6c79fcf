/**
 * Keyset pagination over `(created_at desc, id desc)`: a cursor is the last row's position,
 * opaque to clients (base64url JSON), stable while rows are added.
 */
import { AppError } from "../errors.ts";

export interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(pos: CursorPosition): string {
  const json = JSON.stringify([pos.createdAt.toISOString(), pos.id]);
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** Decodes a cursor from a client; a malformed one is a 400 `invalid_request`. */
export function decodeCursor(cursor: string): CursorPosition {
  try {
    const b64 = cursor.replaceAll("-", "+").replaceAll("_", "/");
    const [iso, id] = JSON.parse(atob(b64)) as [unknown, unknown];
    const createdAt = new Date(String(iso));
    if (
      typeof iso !== "string" || Number.isNaN(createdAt.getTime()) || typeof id !== "string" ||
      !/^[0-9a-f-]{36}$/i.test(id)
    ) throw new Error("shape");
    return { createdAt, id };
  } catch {
    throw new AppError("invalid_request", `Invalid cursor: ${cursor.slice(0, 64)}`);
  }
}

/** Splits `limit + 1` fetched rows into a page and the next cursor. */
export function pageOf<T extends { created_at: Date; id: string }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  const last = items[items.length - 1]!;
  return { items, nextCursor: encodeCursor({ createdAt: last.created_at, id: last.id }) };
}
