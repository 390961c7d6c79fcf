/**
 * The check behind docs/API.md's 422 `path_not_allowed`: a source's path must resolve, symlinks
 * included, to a directory inside DOCUMENT_ROOTS.
 */
import { isAbsolute, resolve } from "node:path";
import { AppError } from "../errors.ts";
import { isPathWithinAny } from "./_path_within.ts";
import { resolveDocumentRoots } from "./resolve_document_roots.ts";

/**
 * The real path of the source directory `path`.
 *
 * @throws {AppError} `path_not_allowed` when `path` is not absolute, does not exist, is not a
 * directory, or resolves outside every root (roots are resolved to real paths too).
 */
export async function resolveSourcePath(
  path: string,
  documentRoots: readonly string[],
): Promise<string> {
  if (typeof path !== "string" || path === "" || !isAbsolute(path)) {
    throw notAllowed(`path must be absolute, got ${JSON.stringify(path)}`, path);
  }
  const roots = await resolveDocumentRoots(documentRoots);
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (err) {
    // Only paths under a root may learn whether they exist.
    const lexical = resolve(path);
    if (!isPathWithinAny(lexical, [...roots, ...documentRoots.map((r) => resolve(r))])) {
      throw notAllowed(`${path} is outside DOCUMENT_ROOTS`, path);
    }
    if (err instanceof Deno.errors.NotFound) throw notAllowed(`${path} does not exist`, path);
    throw notAllowed(`${path} cannot be resolved (${(err as Error).message})`, path);
  }
  if (!isPathWithinAny(real, roots)) {
    throw notAllowed(`${path} is outside DOCUMENT_ROOTS`, path);
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(real);
  } catch (err) {
    throw notAllowed(`${path} cannot be read (${(err as Error).message})`, path);
  }
  if (!info.isDirectory) throw notAllowed(`${path} is not a directory`, path);
  return real;
}

function notAllowed(what: string, path: unknown): AppError {
  return new AppError("path_not_allowed", `Cannot use source path: ${what}`, { path });
}
