/** What the collection functions need from the rest of the system. */
import type { Db, Logger, OperationRow, SecretBox } from "@semantik/shared";

export interface CollectionDeps {
  db: Db;
  /** `DEFAULT_EMBEDDING_MODEL` and `DOCUMENT_ROOTS`. */
  defaultEmbeddingModel: string;
  documentRoots: string[];
  /** MAX_FILE_SIZE_MB in bytes (source previews, re-extraction). @default {52428800} */
  maxFileSizeBytes?: number;
  /** The model registry: unknown names throw 422 `unknown_model`. */
  models: { resolve(name: string): Promise<{ dimension: number; maxChunkTokens: number }> };
  /** Real path of a source directory inside the roots, else 422 `path_not_allowed`. */
  resolveSourcePath(path: string, roots: string[]): Promise<string>;
  /** Enqueues the operation's job (job id = operation id). */
  dispatch(op: OperationRow): Promise<void>;
  /**
   * The box that seals Git tokens (SECRETS_KEY), resolved only when a token is stored; rejects
   * when no key can be had (production without SECRETS_KEY). @default {none: tokens refused}
   */
  secretBox?(): Promise<SecretBox>;
  /** SOURCE_ALLOW_PRIVATE_NETWORKS: web sources may point at private addresses. @default {false} */
  allowPrivateNetworks?: boolean;
  /** The addresses of a web source's host. @default {A and AAAA records} */
  resolveHost?(hostname: string): Promise<string[]>;
  /** Counts points in the vector store; a missing vector collection counts 0. */
  countVectors?(vectorStoreName: string): Promise<number>;
  log?: Logger;
}
