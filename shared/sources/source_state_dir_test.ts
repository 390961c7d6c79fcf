import assert from "node:assert/strict";
import { removeSourceState, sourceStateDir } from "./source_state_dir.ts";

Deno.test("sourceStateDir() places a source under DATA_DIR/sources and refuses ids that would leave it", async () => {
  assert.equal(
    sourceStateDir("/data", "0b9d2f6e-3c1a-4a57-9d0e-2f1b7c8a9e10"),
    "/data/sources/0b9d2f6e-3c1a-4a57-9d0e-2f1b7c8a9e10",
  );
  for (const bad of ["..", "a/b", "", ".", "a b"]) {
    assert.throws(() => sourceStateDir("/data", bad), TypeError, bad);
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/sources/s1/repo.git`, { recursive: true });
    await removeSourceState(dir, "s1");
    await assert.rejects(Deno.stat(`${dir}/sources/s1`), Deno.errors.NotFound);
    await removeSourceState(dir, "s1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
