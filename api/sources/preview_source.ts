/**
 * `POST /api/v2/sources/preview`: what indexing a source would take in, without indexing it.
 * A directory source is walked by the scanner indexing uses (`scanSource`: the same roots, globs,
 * hidden-file rule, size limit and link checks), so `files` are the documents indexing would
 * extract and `skipped` what its scan records as skipped or failed, with the same reasons. What
 * only reading a file can tell (binary or empty content, a corrupt PDF) is not known here.
 * Git and web sources are 422 `unsupported` for now.
 */
import { AppError, scanSource } from "@semantik/shared";
import { z } from "@hono/zod-openapi";
import { sourceSchema } from "@semantik/shared";

/** The request body: a `Source` (git and web sources are refused as unsupported). */
export const previewSourceBody = z.strictObject({ source: sourceSchema }).openapi(
  "SourcePreviewRequest",
);

export interface SourcePreviewJson {
  files: number;
  bytes: number;
  /** Per lower-case extension with its dot (`.md`; `""` for none): files and bytes. */
  by_extension: Record<string, { files: number; bytes: number }>;
  skipped: { uri: string; reason: string }[];
}

export interface PreviewSourceDeps {
  documentRoots: readonly string[];
  maxFileSizeBytes: number;
}

/** Most problems listed (the counts stay exact). */
export const PREVIEW_SKIPPED_LIMIT = 1000;

function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot).toLowerCase();
}

export async function previewSource(
  deps: PreviewSourceDeps,
  input: z.infer<typeof previewSourceBody>,
  { signal }: { signal?: AbortSignal } = {},
): Promise<SourcePreviewJson> {
  const source = input.source;
  if (source.type !== "directory") {
    throw new AppError(
      "unsupported",
      `Cannot preview a ${source.type} source: only directory sources can be previewed`,
    );
  }
  const out: SourcePreviewJson = { files: 0, bytes: 0, by_extension: {}, skipped: [] };
  const dir = source;
  for await (
    const e of scanSource(
      { path: dir.path, include: dir.include, exclude: dir.exclude },
      { documentRoots: deps.documentRoots, maxFileSizeBytes: deps.maxFileSizeBytes, signal },
    )
  ) {
    if (e.kind === "file") {
      out.files++;
      out.bytes += e.size;
      const ext = extensionOf(e.path);
      const slot = out.by_extension[ext] ??= { files: 0, bytes: 0 };
      slot.files++;
      slot.bytes += e.size;
    } else if (out.skipped.length < PREVIEW_SKIPPED_LIMIT) {
      out.skipped.push({ uri: e.uri, reason: e.reason });
    }
  }
  return out;
}
