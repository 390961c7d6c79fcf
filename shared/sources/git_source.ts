/**
 * A Git repository as a source: a shallow bare clone under the source's directory, brought up
 * to date by each `list()` (a depth-1 fetch of the ref, then the indexed ref moved to what was
 * fetched, which also takes a force-pushed branch), listed with `git ls-tree` so every file comes
 * with its blob id: the change token. Unchanged files are never read; a renamed file is a new uri
 * (one deletion, one addition). `open()` reads blobs through `git cat-file`, never through a
 * checkout, so a symbolic link in the repository cannot make the worker read outside the clone.
 *
 * Why the git binary and not isomorphic-git: see README.md beside this file.
 */
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { createPathFilter, type PathFilter } from "../extraction/path_filter.ts";
import type {
  DocumentSource,
  EntryRef,
  ListSourceOptions,
  OpenEntryOptions,
  SourceEntry,
  SourceListing,
} from "./document_source.ts";
import { gitEnvironment, runGit } from "./_git.ts";
import { GitBlobReader } from "./_git_blob_reader.ts";
import { checkGitUrl } from "./git_url.ts";
import { type GitSourceConfig, gitSourceSchema } from "./source_schemas.ts";
import { SourceError } from "./source_error.ts";
import { ExtractionError } from "../extraction/extraction_error.ts";

export interface GitSourceOptions {
  /** The source's own directory (`DATA_DIR/sources/<source id>`): the clone lives in it. */
  directory: string;
  /** DOCUMENT_ROOTS: a `file://` repository must lie inside one of them. */
  documentRoots: readonly string[];
  /** MAX_FILE_SIZE_MB in bytes: larger files are listed as skipped. */
  maxFileSizeBytes: number;
  /** Take files and directories whose name starts with a dot. @default {false} */
  includeHidden?: boolean;
  /** The git binary. @default {"git"} */
  git?: string;
  /** The ssh command for `ssh://` remotes. @default {"ssh -o BatchMode=yes"} */
  sshCommand?: string;
  /** More environment for git (e.g. `GIT_SSL_CAINFO` for a private CA). @default {{}} */
  env?: Record<string, string>;
  /** @default {none} */
  log?: Logger;
}

/** The change token of a Git entry: its blob id. */
export function gitChangeToken(blobId: string): string {
  return `git:${blobId}`;
}

/** A Git document's uri: `<repo url>@<ref>:<path>`. */
export function gitDocumentUri(url: string, { ref, path }: { ref: string; path: string }): string {
  return `${url}@${ref}:${path}`;
}

const INDEXED_REF = "refs/semantik/indexed";

export class GitSource implements DocumentSource {
  readonly type = "git";
  readonly #config: GitSourceConfig;
  readonly #options: GitSourceOptions;
  readonly #repository: string;
  readonly #filter: PathFilter;
  #env: Record<string, string> | undefined;
  #blobs: GitBlobReader | undefined;

  /**
   * `config.token` is the token in clear (the caller opens it with its `SecretBox`).
   * @throws {TypeError} for a config `gitSourceSchema` refuses; {@link RangeError} for bad options.
   */
  constructor(config: GitSourceConfig, options: GitSourceOptions) {
    const checked = gitSourceSchema.safeParse(config);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new TypeError(
        `Cannot create Git source: ${issue?.path.join(".") || "config"} ${issue?.message}`,
      );
    }
    if (!(options.maxFileSizeBytes >= 0)) {
      throw new RangeError(
        `Cannot create Git source: maxFileSizeBytes must not be negative, got ${options.maxFileSizeBytes}`,
      );
    }
    this.#config = config;
    this.#options = options;
    this.#repository = join(options.directory, "repo.git");
    this.#filter = createPathFilter({ include: config.include, exclude: config.exclude });
  }

  /**
   * Clones (first time, or when the clone is missing or unusable) or fetches, then lists the
   * commit of the ref. `revision` is the commit id listed; `ref` the ref named in uris.
   *
   * @throws {SourceError} `auth_failed` (token missing, wrong or refused), `not_found` (no such
   * repository or ref), `unreachable`, `not_allowed`, `invalid`; `AppError`
   * `path_not_allowed` for a `file://` repository outside DOCUMENT_ROOTS.
   */
  async list(options: ListSourceOptions = {}): Promise<SourceListing> {
    const { signal, onProgress } = options;
    const { url } = this.#config;
    try {
      await checkGitUrl(url, { documentRoots: this.#options.documentRoots });
    } catch (err) {
      if (err instanceof TypeError) throw new SourceError("invalid", err.message);
      throw err;
    }
    await this.#blobs?.close();
    const env = await this.#environment();
    const git = (args: string[], what: string) =>
      runGit(args, {
        git: this.#options.git,
        env,
        secret: this.#config.token,
        signal,
        what,
      });

    const fresh = !(await this.#usableClone(env));
    if (fresh) {
      onProgress?.(`Cloning ${url}`);
      await Deno.remove(this.#repository, { recursive: true }).catch(() => {});
      await Deno.mkdir(this.#repository, { recursive: true });
      await git(["init", "--bare", "--quiet"], "create the clone");
      await git(["config", "remote.origin.url", url], "create the clone");
    } else {
      onProgress?.(`Fetching ${url}`);
    }

    const { ref, want } = await this.#resolveRef(git, signal);
    await git(
      [
        "fetch",
        "--depth=1",
        "--no-tags",
        "--no-recurse-submodules",
        "--quiet",
        "--end-of-options",
        "origin",
        want,
      ],
      `fetch ${url}@${ref}`,
    );
    const commit = decode(
      await git(
        ["rev-parse", "--verify", "--end-of-options", "FETCH_HEAD^{commit}"],
        "read FETCH_HEAD",
      ),
    ).trim();
    const previous = decode(
      await git(["rev-parse", "--verify", "--quiet", INDEXED_REF], "read the indexed commit").catch(
        () => new Uint8Array(),
      ),
    ).trim();
    // Moving our own ref (not a fast-forward check) is what takes a force-pushed branch.
    await git(["update-ref", INDEXED_REF, commit], "record the fetched commit");
    const tree = await git(
      ["ls-tree", "-r", "-z", "--long", "--full-tree", commit],
      `list ${url}@${ref}`,
    );
    const entries = this.#entries(tree, ref);
    if (!fresh && previous !== commit) {
      // Objects of replaced commits go at once instead of after git's two-week grace.
      await git(
        ["-c", "gc.pruneExpire=now", "gc", "--auto", "--quiet"],
        "tidy the clone",
      ).catch((err) => this.#options.log?.warn("git gc failed", { url, err }));
    }
    return {
      entries,
      revision: commit,
      ref,
      stats: {
        files: entries.length,
        cloned: fresh ? 1 : 0,
        changed_commit: previous === commit ? 0 : 1,
      },
    };
  }

  async open(entry: EntryRef, options: OpenEntryOptions): Promise<Uint8Array> {
    const { maxBytes, signal } = options;
    const match = /^git:([0-9a-f]+)$/.exec(entry.changeToken);
    if (!match) {
      throw new ExtractionError("failed", `not a Git entry's change token: ${entry.changeToken}`);
    }
    this.#blobs ??= new GitBlobReader({
      git: this.#options.git,
      env: await this.#environment(),
    });
    return await this.#blobs.read(match[1]!, maxBytes, signal);
  }

  async close(): Promise<void> {
    await this.#blobs?.close();
    this.#blobs = undefined;
  }

  async #environment(): Promise<Record<string, string>> {
    this.#env ??= {
      ...await gitEnvironment({
        url: this.#config.url,
        token: this.#config.token,
        directory: this.#options.directory,
        sshCommand: this.#options.sshCommand,
        env: this.#options.env,
      }),
      // Never a repository found by walking up (DATA_DIR may lie inside a checkout).
      GIT_DIR: this.#repository,
    };
    return this.#env;
  }

  /** Whether the directory holds a bare clone of this source's URL. */
  async #usableClone(env: Record<string, string>): Promise<boolean> {
    try {
      const out = await runGit(["config", "--get", "remote.origin.url"], {
        git: this.#options.git,
        env,
        what: "inspect the clone",
      });
      return decode(out).trim() === this.#config.url;
    } catch {
      return false;
    }
  }

  /**
   * The ref named in uris and what to fetch: the configured ref (a commit id is fetched by id),
   * else the remote's default branch (its HEAD), asked with `ls-remote --symref`.
   */
  async #resolveRef(
    git: (args: string[], what: string) => Promise<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<{ ref: string; want: string }> {
    signal?.throwIfAborted();
    const configured = this.#config.ref;
    if (configured !== undefined) {
      // A commit id is fetched by id (servers allow wants of reachable commits, protocol v2).
      return { ref: configured, want: configured };
    }
    const out = decode(
      await git(
        ["ls-remote", "--symref", "origin", "HEAD"],
        `ask ${this.#config.url} for its default branch`,
      ),
    );
    const symref = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(out);
    if (symref) return { ref: symref[1]!, want: `refs/heads/${symref[1]}` };
    if (/^[0-9a-f]+\tHEAD$/m.test(out)) return { ref: "HEAD", want: "HEAD" };
    throw new SourceError("not_found", `Cannot fetch ${this.#config.url}: the repository is empty`);
  }

  #entries(tree: Uint8Array, ref: string): SourceEntry[] {
    const { url } = this.#config;
    const { includeHidden = false, maxFileSizeBytes } = this.#options;
    const entries: SourceEntry[] = [];
    const seen = new Set<string>();
    const lossy = new TextDecoder();
    let start = 0;
    while (start < tree.length) {
      let end = tree.indexOf(0, start);
      if (end < 0) end = tree.length;
      const record = lossy.decode(tree.subarray(start, end));
      start = end + 1;
      // "<mode> <type> <object> <size padded>\t<path>"
      const tab = record.indexOf("\t");
      if (tab < 0) continue;
      const [mode, , oid, sizeText] = record.slice(0, tab).split(/ +/);
      const path = record.slice(tab + 1);
      if (!includeHidden && path.split("/").some((part) => part.startsWith("."))) continue;
      if (!this.#filter.includesFile(path)) continue;
      const uri = gitDocumentUri(url, { ref, path });
      // Names that are not UTF-8 can decode alike; the first keeps the uri.
      if (seen.has(uri)) continue;
      seen.add(uri);
      if (mode === "160000") {
        entries.push({ kind: "skipped", uri, path, reason: "Git submodule (not fetched)" });
      } else if (mode === "120000") {
        entries.push({
          kind: "skipped",
          uri,
          path,
          reason: "symbolic link (Git sources do not follow links)",
        });
      } else {
        const size = Number(sizeText);
        if (size > maxFileSizeBytes) {
          entries.push({
            kind: "skipped",
            uri,
            path,
            reason:
              `file is larger than the ${maxFileSizeBytes} byte limit (MAX_FILE_SIZE_MB): ${size} bytes`,
            size,
          });
        } else {
          entries.push({
            kind: "file",
            uri,
            path,
            changeToken: gitChangeToken(oid!),
            size,
            mtimeMs: null,
            mimeType: null,
          });
        }
      }
    }
    return entries;
  }
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
