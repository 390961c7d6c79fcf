/**
 * A CPU profile of another Deno process started with `--inspect=<host:port>`, through the V8
 * inspector protocol (Deno has no `--cpu-prof`): {@link startCpuProfile} connects and starts
 * sampling; the function it returns stops, writes the `.cpuprofile` (Chrome DevTools opens it)
 * and returns the functions with the most self time.
 */

import { type CallFrame, connectInspector, frameName } from "./_inspector.ts";

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
}

/** One line of a profile's summary: a function and its share of the samples. */
export interface HotFunction {
  name: string;
  selfPercent: number;
}

/** Connects to the inspector at `inspect` (host:port) and starts sampling every `intervalUs`. */
export async function startCpuProfile(
  inspect: string,
  options: { intervalUs?: number } = {},
): Promise<(file: string, top?: number) => Promise<HotFunction[]>> {
  const { call, close } = await connectInspector(inspect);
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: options.intervalUs ?? 500 });
  await call("Profiler.start");
  return async (file, top = 25) => {
    const { profile } = await call("Profiler.stop") as { profile: Profile };
    close();
    await Deno.writeTextFile(file, JSON.stringify(profile));
    return summarize(profile, top);
  };
}

function summarize(profile: Profile, top: number): HotFunction[] {
  const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0) || 1;
  const self = new Map<string, number>();
  for (const node of profile.nodes) {
    const name = frameName(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + (node.hitCount ?? 0));
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, hits]) => ({ name, selfPercent: Number(((100 * hits) / total).toFixed(1)) }));
}
