/**
 * Reads a byte stream into memory up to a cap: a stream that says more cancels at the first byte
 * past the cap, so a 20 MB page or a growing file never costs more than `maxBytes` of memory.
 */

/**
 * The stream's bytes, or undefined when it holds more than `maxBytes` (the stream is cancelled
 * then). An aborted `signal` cancels the stream and throws its reason.
 */
export async function readBounded(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  { signal }: { signal?: AbortSignal } = {},
): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const onAbort = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      signal?.throwIfAborted();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}
