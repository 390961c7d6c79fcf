/**
 * Where a webhook may send: an http(s) URL whose host is a public address. An IP literal is
 * judged as it is, `localhost` is loopback whatever DNS says (RFC 6761), and a name is resolved
 * and every address it has must be public (`isPublicAddress`): checked when the webhook is
 * created and again before each delivery, since DNS may change. `WEBHOOK_ALLOW_PRIVATE=true`
 * skips the address checks (the scheme is always checked).
 */
import { isPublicAddress, resolveWithDns } from "../sources/private_address.ts";
import { errorMessage } from "../errors.ts";

/** Thrown when a webhook URL may not be used: what is wrong, in a sentence. */
export class WebhookTargetError extends Error {
  /** `url`: not an http(s) URL; `address`: its host is private or cannot be resolved. */
  readonly reason: "url" | "address";
  constructor(reason: "url" | "address", message: string) {
    super(message);
    this.name = "WebhookTargetError";
    this.reason = reason;
  }
}

/** Options of {@link checkWebhookTarget}. */
export interface CheckWebhookTargetOptions {
  /** `WEBHOOK_ALLOW_PRIVATE`: skip the address checks. @default {false} */
  allowPrivate?: boolean;
  /** The addresses of a host name. @default {A and AAAA records through Deno.resolveDns} */
  resolveHost?: (hostname: string) => Promise<string[]>;
}

/** A checked target. */
export interface WebhookTarget {
  url: URL;
  /**
   * For plain HTTP with the checks on: the checked address to connect to, so a second DNS
   * answer cannot swap in another (HTTPS relies on the certificate matching the name).
   */
  pinnedAddress: string | undefined;
}

/** Checks `url` (see the module doc). @throws {WebhookTargetError} */
export async function checkWebhookTarget(
  url: string,
  options: CheckWebhookTargetOptions = {},
): Promise<WebhookTarget> {
  const { allowPrivate = false, resolveHost = resolveWithDns } = options;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebhookTargetError("url", `Webhook URL is not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new WebhookTargetError("url", `Webhook URL must be http or https, got ${u.protocol}`);
  }
  if (allowPrivate) return { url: u, pinnedAddress: undefined };
  const host = u.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (/^[\d.]+$/.test(host) || host.includes(":")) {
    addresses = [host];
  } else if (host === "localhost" || host.endsWith(".localhost")) {
    addresses = ["127.0.0.1", "::1"];
  } else {
    try {
      addresses = await resolveHost(host);
    } catch (err) {
      throw new WebhookTargetError(
        "address",
        `Cannot resolve webhook host ${host}: ${errorMessage(err)}`,
      );
    }
    if (addresses.length === 0) {
      throw new WebhookTargetError("address", `Cannot resolve webhook host ${host}`);
    }
  }
  const refused = addresses.find((a) => !isPublicAddress(a));
  if (refused !== undefined) {
    throw new WebhookTargetError(
      "address",
      `Webhook host ${host} ${refused === host ? "is" : `resolves to ${refused},`} a loopback ` +
        "or private-network address (allowed only with WEBHOOK_ALLOW_PRIVATE=true)",
    );
  }
  return { url: u, pinnedAddress: u.protocol === "http:" ? addresses[0] : undefined };
}
