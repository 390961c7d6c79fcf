/**
 * Streamed extraction equals whole-file extraction: the blocks of {@link streamTextFile} join to
 * {@link extractBytes}'s text, with the same hash, encoding and errors, whatever the block size.
 * `STREAM_SEED` picks other inputs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { seededRandom } from "../embedding/seeded_random.ts";
import { extractBytes } from "./extract_bytes.ts";
import { ExtractionError } from "./extraction_error.ts";
import { LINK_LEAVING_ROOTS } from "./open_document.ts";
import { SanitizeStream, streamTextFile } from "./stream_text_file.ts";
import { sanitizeText } from "./sanitize_text.ts";

const SEED = Number(Deno.env.get("STREAM_SEED") ?? 7);
const enc = new TextEncoder();

/** Text bytes with what can straddle a block edge. */
function generateBytes(rand: () => number, kind: number): Uint8Array {
  const parts: (string | number[])[] = [];
  const n = 50 + Math.floor(rand() * 400);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.1) parts.push("\r\n");
    else if (r < 0.14) parts.push("\r");
    else if (r < 0.18) parts.push("\u001b[1;31m");
    else if (r < 0.2) parts.push("\u001b[");
    else if (r < 0.22) parts.push("\u0000");
    else if (r < 0.24) parts.push("\u0007");
    else if (r < 0.3) parts.push("naïve café 東京 😀 ");
    else if (r < 0.32) parts.push("   \t\n\n");
    else parts.push("the bees fly to the flowers ");
  }
  let bytes = concat(parts.map((p) => typeof p === "string" ? enc.encode(p) : Uint8Array.from(p)));
  if (kind === 1) bytes = concat([Uint8Array.of(0xef, 0xbb, 0xbf), bytes]); // UTF-8 BOM
  if (kind === 2) bytes = concat([bytes, Uint8Array.of(0xe9, 0x20, 0x93, 0x94)]); // Latin-1, late
  if (kind === 3 || kind === 4) {
    const text = new TextDecoder().decode(bytes).replaceAll("\u0000", "");
    const units = new Uint16Array([...text].flatMap((c) => {
      const s = c.length === 2 ? [c.charCodeAt(0), c.charCodeAt(1)] : [c.charCodeAt(0)];
      return s;
    }));
    const out = new Uint8Array(2 + units.length * 2);
    const view = new DataView(out.buffer);
    const le = kind === 3;
    view.setUint16(0, 0xfeff, le);
    units.forEach((u, i) => view.setUint16(2 + i * 2, u, le));
    bytes = out;
  }
  if (kind === 5) bytes = enc.encode(" \n\t\r\n ".repeat(1 + Math.floor(rand() * 50)));
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function outcome<T>(fn: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ExtractionError) return { error: `${err.status}: ${err.reason}` };
    throw err;
  }
}

Deno.test("streamTextFile() gives extractBytes()'s text, hash and encoding, whatever the block size (property)", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "stream_text_file_test_" }));
  try {
    const rand = seededRandom(SEED);
    for (let round = 0; round < 60; round++) {
      const kind = round % 6;
      const bytes = generateBytes(rand, kind);
      const path = join(dir, `doc${round}.${["txt", "md", "log"][round % 3]}`);
      await Deno.writeFile(path, bytes);
      const blockBytes = 1 + Math.floor(rand() * 300);
      const whole = await outcome(async () => {
        const doc = await extractBytes(bytes, { path });
        return { text: doc.text, hash: doc.contentHash, encoding: doc.encoding };
      });
      const streamed = await outcome(async () => {
        const stream = await streamTextFile(path, {
          documentRoots: [dir],
          maxBytes: 1 << 20,
          blockBytes,
        });
        assert.ok(stream, `round ${round}: not streamable`);
        let text = "";
        for await (const block of stream.blocks) text += block;
        return { text, hash: stream.contentHash(), encoding: stream.encoding };
      });
      assert.deepEqual(
        streamed,
        whole,
        `seed ${SEED} round ${round} (kind ${kind}), block ${blockBytes}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SanitizeStream gives sanitizeText()'s output for any split", () => {
  const text = "a\r\nb\rc\u001b[1;31mred\u001b[0m\u0000d\u0007e 😀 \r";
  for (let cut = 0; cut <= text.length; cut++) {
    const s = new SanitizeStream();
    assert.equal(
      s.push(text.slice(0, cut)) + s.push(text.slice(cut)) + s.finish(),
      sanitizeText(text),
      `cut ${cut}`,
    );
  }
});

Deno.test("streamTextFile() leaves PDF, DOCX, HTML and magic-numbered files to whole extraction, and refuses a link", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "stream_text_file_test_" }));
  try {
    const options = { documentRoots: [dir], maxBytes: 1 << 20 };
    for (const name of ["a.pdf", "a.docx", "a.html"]) {
      await Deno.writeTextFile(join(dir, name), "plain words");
      assert.equal(await streamTextFile(join(dir, name), options), undefined, name);
    }
    await Deno.writeTextFile(join(dir, "pdf.txt"), "%PDF-1.7\nnot really");
    assert.equal(await streamTextFile(join(dir, "pdf.txt"), options), undefined);
    await Deno.writeTextFile(join(dir, "big.txt"), "x".repeat(100));
    await assert.rejects(
      () => streamTextFile(join(dir, "big.txt"), { ...options, maxBytes: 99 }),
      (err: unknown) =>
        err instanceof ExtractionError && /larger than the 99 byte/.test(err.reason),
    );
    await Deno.symlink(join(dir, "big.txt"), join(dir, "link.txt"));
    await assert.rejects(
      () => streamTextFile(join(dir, "link.txt"), options),
      (err: unknown) => err instanceof ExtractionError && err.reason === LINK_LEAVING_ROOTS,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
