// Keeps a loader's answers in the order its calls were made. No DOM here, so it is tested on its
// own (latest_answer_test.ts).

/**
 * For a loader that may be called again before an earlier call's answer came (a list reloaded on
 * each finished operation, on reconnect, after an action): answers travel on different
 * connections and can arrive out of order, and an older one applied last would show stale state
 * until the next load. `take()` a ticket before the request; once its answer is in, apply it only
 * if `fresh(ticket)`: false when the answer of a call made later was applied already.
 */
export function latestAnswer() {
  let issued = 0;
  let applied = 0;
  return {
    /** A ticket for a call about to be made. */
    take() {
      return ++issued;
    },
    /**
     * Whether the answer of the call with `ticket` is to be applied (then it counts as applied).
     * @param {number} ticket
     */
    fresh(ticket) {
      if (ticket < applied) return false;
      applied = ticket;
      return true;
    },
    /**
     * Whether no call was made after the one with `ticket`: for what shows one answer for what
     * the user asked last (a search, a document opened), where an older answer is never shown,
     * not even before the newer one comes.
     * @param {number} ticket
     */
    latest(ticket) {
      return ticket === issued;
    },
  };
}
