/**
 * Magic numbers of the formats a document folder is likely to hold, so that a skipped file says
 * what it is ("binary content: PNG image") and a PDF is found whatever its name.
 */

export interface SniffedFormat {
  mimeType: string;
  /** Human name for reasons. */
  label: string;
}

const MAGIC: { bytes: number[]; offset?: number; format: SniffedFormat }[] = [
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    format: { mimeType: "application/zip", label: "ZIP archive" },
  },
  {
    bytes: [0x50, 0x4b, 0x05, 0x06],
    format: { mimeType: "application/zip", label: "ZIP archive" },
  },
  { bytes: [0x89, 0x50, 0x4e, 0x47], format: { mimeType: "image/png", label: "PNG image" } },
  { bytes: [0xff, 0xd8, 0xff], format: { mimeType: "image/jpeg", label: "JPEG image" } },
  { bytes: [0x47, 0x49, 0x46, 0x38], format: { mimeType: "image/gif", label: "GIF image" } },
  { bytes: [0x1f, 0x8b], format: { mimeType: "application/gzip", label: "gzip archive" } },
  {
    bytes: [0x7f, 0x45, 0x4c, 0x46],
    format: { mimeType: "application/x-elf", label: "ELF executable" },
  },
  {
    bytes: [0x00, 0x61, 0x73, 0x6d],
    format: { mimeType: "application/wasm", label: "WebAssembly module" },
  },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    format: { mimeType: "application/x-ole-storage", label: "legacy Office (OLE) document" },
  },
  {
    bytes: [...new TextEncoder().encode("SQLite format 3\0")],
    format: { mimeType: "application/vnd.sqlite3", label: "SQLite database" },
  },
  {
    bytes: [0x66, 0x74, 0x79, 0x70],
    offset: 4,
    format: { mimeType: "video/mp4", label: "MP4/QuickTime media" },
  },
  {
    bytes: [0x52, 0x49, 0x46, 0x46],
    format: { mimeType: "application/x-riff", label: "RIFF media (WAV/AVI/WebP)" },
  },
  { bytes: [0x49, 0x44, 0x33], format: { mimeType: "audio/mpeg", label: "MP3 audio" } },
  { bytes: [0x4f, 0x67, 0x67, 0x53], format: { mimeType: "audio/ogg", label: "Ogg media" } },
  {
    bytes: [0x37, 0x7a, 0xbc, 0xaf],
    format: { mimeType: "application/x-7z-compressed", label: "7-Zip archive" },
  },
  {
    bytes: [0x28, 0xb5, 0x2f, 0xfd],
    format: { mimeType: "application/zstd", label: "Zstandard archive" },
  },
];

const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // %PDF-
/** PDF readers accept the header anywhere in the first KiB (junk before it is common). */
const PDF_HEADER_WINDOW = 1024;

/** The format `bytes` start with, or undefined for anything else (text among it). */
export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  if (indexOf(bytes, PDF_MAGIC, PDF_HEADER_WINDOW) >= 0) {
    return { mimeType: "application/pdf", label: "PDF document" };
  }
  for (const { bytes: magic, offset = 0, format } of MAGIC) {
    if (startsWith(bytes, magic, offset)) return format;
  }
  return undefined;
}

function startsWith(bytes: Uint8Array, magic: number[], offset: number): boolean {
  if (bytes.length < offset + magic.length) return false;
  return magic.every((b, i) => bytes[offset + i] === b);
}

function indexOf(bytes: Uint8Array, needle: number[], window: number): number {
  const end = Math.min(bytes.length, window) - needle.length;
  for (let i = 0; i <= end; i++) {
    if (startsWith(bytes, needle, i)) return i;
  }
  return -1;
}
