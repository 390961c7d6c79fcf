/**
 * The checks a source passes before it is stored, beyond its schema: a directory resolves inside
 * DOCUMENT_ROOTS, a `file://` repository too, a web site's host is not on a private network
 * (unless SOURCE_ALLOW_PRIVATE_NETWORKS), and a Git token is sealed for the row it goes in.
 */
import {
  AppError,
  checkGitUrl,
  errorMessage,
  isPublicAddress,
  type SourceInput,
  sourceTokenContext,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";

/** A source ready to insert: its row id, where it is, and its token sealed for that row. */
export interface PreparedSource {
  id: string;
  source: SourceInput;
  /** A directory source's real path inside DOCUMENT_ROOTS; null for Git and web sources. */
  realPath: string | null;
  /** The Git token sealed (SecretBox) for `collection_sources/<id>/token`; null without one. */
  sealedToken: string | null;
}

/**
 * Checks `source` and seals its token.
 * @throws {AppError} 422 `path_not_allowed` (a directory or `file://` repository outside
 * DOCUMENT_ROOTS), 422 `address_not_allowed` (a web host on a private network), 400
 * `invalid_request` (a web host that does not resolve), 503 `unavailable` (a token to store but
 * no SECRETS_KEY in production).
 */
export async function prepareSource(
  deps: CollectionDeps,
  source: SourceInput,
): Promise<PreparedSource> {
  const id = crypto.randomUUID();
  switch (source.type) {
    case "directory":
      return {
        id,
        source,
        realPath: await deps.resolveSourcePath(source.path, deps.documentRoots),
        sealedToken: null,
      };
    case "git": {
      await checkGitUrl(source.url, { documentRoots: deps.documentRoots });
      let sealedToken: string | null = null;
      if (source.token !== undefined) {
        if (!deps.secretBox) {
          throw new AppError("unavailable", "Cannot store a Git token: no secrets key is set up");
        }
        let box;
        try {
          box = await deps.secretBox();
        } catch (err) {
          // The message names the missing setting; it never holds the token.
          throw new AppError("unavailable", `Cannot store a Git token: ${errorMessage(err)}`);
        }
        sealedToken = await box.seal(source.token, sourceTokenContext(id));
      }
      return { id, source, realPath: null, sealedToken };
    }
    case "web":
      if (!deps.allowPrivateNetworks) await checkWebHost(deps, source.url);
      return { id, source, realPath: null, sealedToken: null };
  }
}

/** Refuses a web URL whose host is, or resolves to, a loopback or private-network address. */
async function checkWebHost(deps: CollectionDeps, url: string): Promise<void> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  const literal = /^[0-9.]+$/.test(host) || host.includes(":");
  let addresses: string[];
  if (literal) addresses = [host];
  else {
    try {
      addresses = await (deps.resolveHost ?? resolveWithDns)(host);
    } catch (err) {
      throw new AppError("invalid_request", `Cannot resolve the web source's host ${host}`, {
        reason: errorMessage(err),
      });
    }
    if (addresses.length === 0) {
      throw new AppError("invalid_request", `Cannot resolve the web source's host ${host}`);
    }
  }
  const refused = addresses.filter((a) => !isPublicAddress(a));
  if (refused.length > 0) {
    throw new AppError(
      "address_not_allowed",
      `Cannot crawl ${host}: it resolves to ${refused.join(", ")}, a loopback or ` +
        "private-network address (set SOURCE_ALLOW_PRIVATE_NETWORKS=true to allow)",
      { host, addresses: refused },
    );
  }
}

async function resolveWithDns(hostname: string): Promise<string[]> {
  const settled = await Promise.allSettled([
    Deno.resolveDns(hostname, "A"),
    Deno.resolveDns(hostname, "AAAA"),
  ]);
  const found = settled.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
  if (found.length === 0) {
    const failure = settled.find((r) => r.status === "rejected");
    if (failure) throw failure.reason;
  }
  return found;
}
