/**
 * The signature of a webhook delivery: `X-Semantik-Signature: t=<unix seconds>,v1=<hex>`, where
 * the hex is HMAC-SHA256 under the webhook's secret of `<t>.<body>`. The timestamp is signed so a
 * receiver can refuse old replays; it compares `v1` in constant time.
 */
const encoder = new TextEncoder();

/** Options of {@link signWebhook}. */
export interface SignWebhookOptions {
  /** The exact body sent. */
  body: string;
  /** Unix time in seconds. @default {now} */
  timestamp?: number;
}

/** The `X-Semantik-Signature` value of `body` under `secret`. */
export async function signWebhook(secret: string, options: SignWebhookOptions): Promise<string> {
  const { body, timestamp = Math.floor(Date.now() / 1000) } = options;
  if (!Number.isInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`Cannot sign webhook: timestamp must be unix seconds, got ${timestamp}`);
  }
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)),
  );
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  return `t=${timestamp},v1=${hex}`;
}
