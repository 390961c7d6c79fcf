/**
 * Issue 26: while an operation runs, its progress frames carry live counts in `metadata`
 * (documents done, processed, failed, skipped, chunks so far, the current document, chunks per
 * second) and `eta_seconds`; the counts only rise, and the terminal frame settles them.
 */
import assert from "node:assert/strict";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { closeAll, connect, createWsTestEnv, type WsClient } from "./ws_env.ts";

Deno.test("progress frames carry rising live counts and eta_seconds while an index runs", async () => {
  const env = await createWsTestEnv({ indexing: true });
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const files = 16;
    for (let i = 0; i < files; i++) {
      const lines = Array.from(
        { length: 120 },
        (_, j) => `Paragraph ${j} of note ${i} tells how live progress reaches every watcher.`,
      );
      await Deno.writeTextFile(`${env.docs}/note_${i}.md`, `# Note ${i}\n\n${lines.join("\n\n")}`);
    }
    // One empty file: skipped, counted live.
    await Deno.writeTextFile(`${env.docs}/empty.md`, "");
    const res = await fetch(`${env.server.url}/api/v2/collections`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "notes", source: { type: "directory", path: env.docs } }),
    });
    const created = await res.json();
    assert.equal(res.status, 201, JSON.stringify(created));
    const ws = connect(
      `${env.wsUrl}/ws/operations/${created.operation.id}`,
      `access_token.${alice.token}`,
    );
    clients.push(ws);
    await waitFor("the terminal frame", () => ws.closeEvent ?? undefined, {
      timeoutMs: OPERATION_MS,
      seen: () => ws.frames.map((f) => [f.type, f.progress, f.metadata?.documents_done]),
    });
    const last = ws.frames.at(-1);
    assert.equal(last.type, "OPERATION_COMPLETED", JSON.stringify(last));

    const live = ws.frames.filter((f) =>
      f.type === "OPERATION_PROGRESS" && f.status === "processing" &&
      f.metadata?.documents_done !== undefined
    );
    assert.ok(live.length >= 2, `live frames: ${JSON.stringify(ws.frames.map((f) => f.metadata))}`);
    for (const f of live) {
      const m = f.metadata;
      assert.equal(m.documents_total, files + 1);
      assert.ok("eta_seconds" in m, JSON.stringify(m));
      assert.ok(m.eta_seconds === null || (Number.isInteger(m.eta_seconds) && m.eta_seconds >= 0));
      assert.equal(typeof m.chunks_per_second, "number");
      for (const k of ["documents_processed", "documents_failed", "documents_skipped"]) {
        assert.ok(Number.isInteger(m[k]), `${k} in ${JSON.stringify(m)}`);
      }
    }
    const rising = (k: string) => {
      const values = live.map((f) => f.metadata[k] as number);
      assert.deepEqual(values, [...values].sort((a, b) => a - b), `${k} never falls: ${values}`);
      return values;
    };
    const done = rising("documents_done");
    const chunks = rising("chunks_created");
    rising("documents_processed");
    assert.ok(done.at(-1)! > done[0]!, `documents_done rose: ${done}`);
    assert.ok(chunks.at(-1)! > chunks[0]!, `chunks_created rose: ${chunks}`);
    assert.ok(
      live.some((f) =>
        typeof f.metadata.eta_seconds === "number" && f.metadata.documents_done < files + 1
      ),
      "an estimate while documents were left",
    );
    assert.ok(
      live.some((f) =>
        typeof f.metadata.current_document === "string" &&
        f.metadata.current_document.startsWith(`${env.docs}/`)
      ),
      "the current document is named",
    );

    // The terminal frame settles the live fields.
    const m = last.metadata;
    assert.deepEqual(
      [
        m.documents_done,
        m.documents_processed,
        m.documents_skipped,
        m.eta_seconds,
        m.current_document,
      ],
      [files + 1, files, 1, 0, null],
    );
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});
