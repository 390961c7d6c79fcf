import assert from "node:assert/strict";
import { parseNvidiaSmiMemory, queryGpuMemory, visibleGpu } from "./gpu_memory.ts";

const MIB = 1024 * 1024;
const TWO_GPUS = [
  "0, GPU-4f1c2a8e-1111-2222-3333-444455556666, 143771, 120000, 23771, NVIDIA H200",
  "1, GPU-9a9b9c9d-1111-2222-3333-444455556666, 81559, 1, 81558, NVIDIA A100-SXM4-80GB, rev, 2",
  "",
].join("\n");

Deno.test("parseNvidiaSmiMemory() reads index, uuid, memory in bytes and name", () => {
  const gpus = parseNvidiaSmiMemory(TWO_GPUS);
  assert.equal(gpus.length, 2);
  assert.deepEqual(gpus[0], {
    index: 0,
    uuid: "GPU-4f1c2a8e-1111-2222-3333-444455556666",
    totalBytes: 143771 * MIB,
    usedBytes: 120000 * MIB,
    freeBytes: 23771 * MIB,
    name: "NVIDIA H200",
  });
  // A comma in the name stays in the name.
  assert.equal(gpus[1]!.name, "NVIDIA A100-SXM4-80GB, rev, 2");
  assert.equal(gpus[1]!.freeBytes, 81558 * MIB);
});

Deno.test("parseNvidiaSmiMemory() turns [N/A] into unknown and handles CRLF and no GPUs", () => {
  const [gpu] = parseNvidiaSmiMemory("0, GPU-1, [N/A], [N/A], [N/A], NVIDIA H100 MIG\r\n");
  assert.equal(gpu!.freeBytes, undefined);
  assert.equal(gpu!.totalBytes, undefined);
  assert.deepEqual(parseNvidiaSmiMemory(""), []);
});

Deno.test("parseNvidiaSmiMemory() rejects output it does not understand", () => {
  assert.throws(() => parseNvidiaSmiMemory("No devices were found"), /expected 6 fields/);
  assert.throws(() => parseNvidiaSmiMemory("x, GPU-1, 1, 1, 1, n"), /bad GPU index/);
});

Deno.test("visibleGpu() maps CUDA device ids through CUDA_VISIBLE_DEVICES", async (t) => {
  const gpus = parseNvidiaSmiMemory(TWO_GPUS);
  await t.step("unset: CUDA ids are nvidia-smi indices", () => {
    assert.equal(visibleGpu(gpus, { deviceId: 1, cudaVisibleDevices: undefined })?.index, 1);
    assert.equal(visibleGpu(gpus, { deviceId: 2, cudaVisibleDevices: undefined }), undefined);
  });
  await t.step("indices", () => {
    assert.equal(visibleGpu(gpus, { deviceId: 0, cudaVisibleDevices: "1,0" })?.index, 1);
    assert.equal(visibleGpu(gpus, { deviceId: 1, cudaVisibleDevices: "1,0" })?.index, 0);
    assert.equal(visibleGpu(gpus, { deviceId: 2, cudaVisibleDevices: "1,0" }), undefined);
  });
  await t.step("full and abbreviated UUIDs", () => {
    assert.equal(
      visibleGpu(gpus, {
        deviceId: 0,
        cudaVisibleDevices: "GPU-9a9b9c9d-1111-2222-3333-444455556666",
      })?.index,
      1,
    );
    assert.equal(visibleGpu(gpus, { deviceId: 0, cudaVisibleDevices: "GPU-4f1c" })?.index, 0);
    assert.equal(visibleGpu(gpus, { deviceId: 0, cudaVisibleDevices: "9a9b" })?.index, 1);
  });
  await t.step("MIG slices cannot be told", () => {
    assert.equal(visibleGpu(gpus, { deviceId: 0, cudaVisibleDevices: "MIG-1234" }), undefined);
  });
});

Deno.test("queryGpuMemory() says undefined when nvidia-smi is not installed", async () => {
  assert.equal(await queryGpuMemory({ command: "nvidia-smi-does-not-exist-here" }), undefined);
});

Deno.test("queryGpuMemory() runs the command and parses what it prints", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fake = `${dir}/nvidia-smi`;
    await Deno.writeTextFile(
      fake,
      `#!/bin/sh\n[ "$1" = "--query-gpu=index,uuid,memory.total,memory.used,memory.free,name" ] || exit 9\necho "0, GPU-1, 1000, 100, 900, Fake GPU"\n`,
    );
    await Deno.chmod(fake, 0o755);
    const gpus = await queryGpuMemory({ command: fake });
    assert.equal(gpus?.length, 1);
    assert.equal(gpus?.[0]?.freeBytes, 900 * MIB);
    await Deno.writeTextFile(fake, "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n");
    assert.equal(await queryGpuMemory({ command: fake }), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
