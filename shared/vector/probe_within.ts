/**
 * A readiness probe with a deadline: a store whose server accepts connections but never answers
 * must make `ready()` say so quickly, not hang the caller's `/readyz`.
 */

/** Runs `probe`; rejects with "no answer within N ms" when it takes longer than `ms`. */
export async function probeWithin<T>(probe: () => Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
