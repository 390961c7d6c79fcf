/**
 * The MIME type a file's extension promises. Content has the last word: a PDF is a PDF by its
 * magic bytes, and a file whose extension promises text is still skipped when it is binary.
 */
import { extname } from "node:path";

export const MIME_PDF = "application/pdf";
export const MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
export const MIME_HTML = "text/html";
export const MIME_MARKDOWN = "text/markdown";
export const MIME_RST = "text/x-rst";
export const MIME_PLAIN = "text/plain";

const BY_EXTENSION: Record<string, string> = {
  ".txt": MIME_PLAIN,
  ".text": MIME_PLAIN,
  ".log": MIME_PLAIN,
  ".md": MIME_MARKDOWN,
  ".markdown": MIME_MARKDOWN,
  ".mdown": MIME_MARKDOWN,
  ".mkd": MIME_MARKDOWN,
  ".mdx": MIME_MARKDOWN,
  ".rst": MIME_RST,
  ".rest": MIME_RST,
  ".html": MIME_HTML,
  ".htm": MIME_HTML,
  ".xhtml": MIME_HTML,
  ".pdf": MIME_PDF,
  ".docx": MIME_DOCX,
  ".json": "application/json",
  ".jsonl": "application/jsonl",
  ".ndjson": "application/jsonl",
  ".csv": "text/csv",
  ".tsv": "text/tab-separated-values",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".toml": "application/toml",
  ".ini": MIME_PLAIN,
  ".cfg": MIME_PLAIN,
  ".conf": MIME_PLAIN,
  ".xml": "application/xml",
  ".tex": "text/x-tex",
  ".org": "text/org",
  ".adoc": "text/asciidoc",
  ".asciidoc": "text/asciidoc",
  ".css": "text/css",
  ".scss": "text/x-scss",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".cjs": "text/javascript",
  ".jsx": "text/javascript",
  ".ts": "text/x-typescript",
  ".mts": "text/x-typescript",
  ".cts": "text/x-typescript",
  ".tsx": "text/x-typescript",
  ".py": "text/x-python",
  ".pyi": "text/x-python",
  ".rb": "text/x-ruby",
  ".go": "text/x-go",
  ".rs": "text/x-rust",
  ".java": "text/x-java",
  ".kt": "text/x-kotlin",
  ".kts": "text/x-kotlin",
  ".scala": "text/x-scala",
  ".swift": "text/x-swift",
  ".c": "text/x-c",
  ".h": "text/x-c",
  ".cc": "text/x-c++",
  ".cpp": "text/x-c++",
  ".cxx": "text/x-c++",
  ".hpp": "text/x-c++",
  ".cs": "text/x-csharp",
  ".php": "text/x-php",
  ".pl": "text/x-perl",
  ".lua": "text/x-lua",
  ".r": "text/x-r",
  ".sql": "application/sql",
  ".sh": "text/x-shellscript",
  ".bash": "text/x-shellscript",
  ".zsh": "text/x-shellscript",
  ".ps1": "text/x-powershell",
  ".vue": "text/x-vue",
  ".svelte": "text/x-svelte",
  ".dart": "text/x-dart",
  ".ex": "text/x-elixir",
  ".exs": "text/x-elixir",
  ".erl": "text/x-erlang",
  ".hs": "text/x-haskell",
  ".clj": "text/x-clojure",
  ".zig": "text/x-zig",
};

/** The MIME type for `path`'s extension (case-insensitive), or undefined when unknown. */
export function mimeTypeForPath(path: string): string | undefined {
  return BY_EXTENSION[extname(path).toLowerCase()];
}
