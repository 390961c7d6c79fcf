// What the operations panel shows for one operation when news of it arrives. No DOM here, so the
// rule is tested on its own (operation_state_test.ts).

/** The statuses an operation ends in. */
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/**
 * The operation the page keeps after `next` arrives over `prev` (undefined for one not seen yet).
 *
 * News comes two ways, and they can cross. A frame from the socket always applies: the server
 * sends each operation's frames in order, and a snapshot is its state when sent. A REST answer
 * (the list, a cancel's answer) was read at some moment before it arrived, and a frame applied in
 * between may be newer: a cancel answers "processing, cancel requested" and the worker's
 * "cancelled" frame can reach the page first. So an answer never takes an operation the page knows
 * as finished back to active; only a frame does (a failed operation requeued from the dead
 * letters: its socket sends that as a frame, or as a snapshot after a reconnect).
 *
 * @param {Record<string, any> | undefined} prev what the page shows now
 * @param {Record<string, any>} next the news: an operation's fields, all or some
 * @param {{live: boolean, now?: string}} how `live`: a frame from the socket; `now`: the time to
 *   sort an operation first heard of on the socket by (default: the current time)
 * @returns {Record<string, any>} what the page shows from now on
 */
export function mergeOperation(prev, next, { live, now }) {
  if (!live && prev && TERMINAL.has(prev.status) && !TERMINAL.has(next.status)) {
    return prev;
  }
  // One first heard of on the socket is new: it sorts (and filters) as made now.
  const created = prev?.created_at ?? next.created_at ?? now ?? new Date().toISOString();
  return { ...prev, ...next, created_at: created };
}
