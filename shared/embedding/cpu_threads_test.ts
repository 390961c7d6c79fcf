import assert from "node:assert/strict";
import {
  availableCpus,
  cgroupCpuLimit,
  parseCfsQuota,
  parseCgroupV2Path,
  parseCpuMax,
} from "./cpu_threads.ts";

Deno.test("parseCpuMax reads a quota over a period and no limit as undefined", () => {
  assert.equal(parseCpuMax("200000 100000\n"), 2);
  assert.equal(parseCpuMax("150000 100000"), 1.5);
  assert.equal(parseCpuMax("50000 100000"), 0.5);
  assert.equal(parseCpuMax("max 100000\n"), undefined);
  assert.equal(parseCpuMax("garbage"), undefined);
  assert.equal(parseCpuMax("0 100000"), undefined);
  assert.equal(parseCpuMax(""), undefined);
});

Deno.test("parseCfsQuota reads cgroup v1 quotas; -1 is no limit", () => {
  assert.equal(parseCfsQuota("300000\n", "100000\n"), 3);
  assert.equal(parseCfsQuota("-1\n", "100000\n"), undefined);
});

Deno.test("parseCgroupV2Path finds the unified hierarchy's line", () => {
  assert.equal(parseCgroupV2Path("0::/system.slice/app.service\n"), "/system.slice/app.service");
  assert.equal(parseCgroupV2Path("0::/\n"), "/");
  assert.equal(parseCgroupV2Path("12:cpu,cpuacct:/docker/abc\n"), undefined);
});

Deno.test("cgroupCpuLimit takes the tightest quota of the group and its ancestors", () => {
  const files: Record<string, string> = {
    "/proc/self/cgroup": "0::/outer/inner\n",
    "/sys/fs/cgroup/cpu.max": "max 100000\n",
    "/sys/fs/cgroup/outer/cpu.max": "150000 100000\n",
    "/sys/fs/cgroup/outer/inner/cpu.max": "400000 100000\n",
  };
  assert.equal(cgroupCpuLimit((p) => files[p]), 1.5);
});

Deno.test("cgroupCpuLimit reads a container's own root group and cgroup v1", () => {
  assert.equal(
    cgroupCpuLimit((p) =>
      ({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "100000 100000\n" })[p]
    ),
    1,
  );
  const v1: Record<string, string> = {
    "/proc/self/cgroup": "4:cpu,cpuacct:/docker/abc\n",
    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "250000\n",
    "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
  };
  assert.equal(cgroupCpuLimit((p) => v1[p]), 2.5);
  assert.equal(cgroupCpuLimit(() => undefined), undefined);
});

Deno.test("availableCpus caps the allowed cores by the quota, rounded up, at least 1", () => {
  assert.equal(availableCpus({ parallelism: 64, quota: 1.5 }), 2);
  assert.equal(availableCpus({ parallelism: 2, quota: 8 }), 2);
  assert.equal(availableCpus({ parallelism: 4, quota: undefined }), 4);
  assert.equal(availableCpus({ parallelism: 4, quota: 0.2 }), 1);
  assert.ok(availableCpus() >= 1);
});
