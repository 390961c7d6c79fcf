/**
 * DOCUMENT_ROOTS as real paths: a root given through a symlink still contains the files its
 * target holds, and `realPath` of a file is compared with real roots only.
 */
import { isAbsolute, resolve } from "node:path";

/**
 * The real paths of the roots that exist; missing or unresolvable roots are left out (they
 * contain nothing). Order is kept, duplicates dropped.
 */
export async function resolveDocumentRoots(documentRoots: readonly string[]): Promise<string[]> {
  const real = new Set<string>();
  for (const root of documentRoots) {
    if (!isAbsolute(root)) continue;
    try {
      real.add(await Deno.realPath(resolve(root)));
    } catch {
      // A root that does not exist holds no documents.
    }
  }
  return [...real];
}
