/**
 * A collection source row as a {@link DocumentSource}: a directory, a Git repository (its token
 * opened from the row's sealed value) or a web site, each keeping its local copy in
 * `DATA_DIR/sources/<source id>`.
 */
import {
  AppError,
  DirectorySource,
  type DocumentSource,
  GitSource,
  HostPacer,
  type Logger,
  type SecretBox,
  sourceStateDir,
  sourceTokenContext,
  WebSource,
} from "@semantik/shared";
import type { IndexedSource } from "./indexed_collection.ts";

/** What Git and web sources need of the process. */
export interface SourceDeps {
  /** DATA_DIR: sources keep their local copies in `DATA_DIR/sources/<id>`. */
  dataDir: string;
  /** SOURCE_ALLOW_PRIVATE_NETWORKS. @default {false} */
  allowPrivateNetworks?: boolean;
  /** Opens sealed Git tokens (SECRETS_KEY); needed only by sources with a token. */
  secretBox?: () => Promise<SecretBox>;
  /** Paces requests per host across the process's web sources. @default {one per process} */
  pacer?: HostPacer;
  /** Extra environment of the git processes (e.g. `GIT_SSL_CAINFO`). @default {none} */
  gitEnv?: Record<string, string>;
  /** Pause between two requests to one web host. @default {WebSource's, 1 s} */
  webDelayMs?: number;
}

const processPacer = new HostPacer();

export interface OpenSourceOptions {
  documentRoots: readonly string[];
  maxFileSizeBytes: number;
  sources?: SourceDeps;
  log?: Logger;
}

/**
 * The source of row `s`.
 * @throws {AppError} `invalid_request` for a Git or web source when the process has no
 * {@link SourceDeps}; {@link SecretError} when its sealed token does not open.
 */
export async function openSource(
  s: IndexedSource,
  options: OpenSourceOptions,
): Promise<DocumentSource> {
  const { documentRoots, maxFileSizeBytes, sources, log } = options;
  if (s.type === "directory") {
    return new DirectorySource(
      { path: s.path!, include: s.include, exclude: s.exclude },
      { documentRoots, maxFileSizeBytes },
    );
  }
  if (!sources) {
    throw new AppError("invalid_request", `Cannot read ${s.type} source ${s.id}: no DATA_DIR`);
  }
  const directory = sourceStateDir(sources.dataDir, s.id);
  const globs = {
    ...(s.include.length > 0 ? { include: s.include } : {}),
    ...(s.exclude.length > 0 ? { exclude: s.exclude } : {}),
  };
  if (s.type === "git") {
    let token: string | undefined;
    if (s.token_sealed !== null) {
      if (!sources.secretBox) {
        throw new AppError("invalid_request", `Cannot open the token of source ${s.id}: no key`);
      }
      const box = await sources.secretBox();
      token = await box.open(s.token_sealed, sourceTokenContext(s.id));
    }
    return new GitSource(
      {
        type: "git",
        url: s.url!,
        ...(s.ref !== null ? { ref: s.ref } : {}),
        ...(token !== undefined ? { token } : {}),
        ...globs,
      },
      { directory, documentRoots, maxFileSizeBytes, env: sources.gitEnv, log },
    );
  }
  return new WebSource(
    {
      type: "web",
      url: s.url!,
      ...(s.max_pages !== null ? { max_pages: s.max_pages } : {}),
      ...(s.max_depth !== null ? { max_depth: s.max_depth } : {}),
      ...globs,
    },
    {
      directory,
      allowPrivateNetworks: sources.allowPrivateNetworks ?? false,
      maxPageBytes: maxFileSizeBytes,
      pacer: sources.pacer ?? processPacer,
      ...(sources.webDelayMs !== undefined ? { delayMs: sources.webDelayMs } : {}),
      log,
    },
  );
}
