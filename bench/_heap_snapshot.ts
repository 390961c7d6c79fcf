/**
 * What a Deno process started with `--inspect=<host:port>` holds on its JavaScript heap, by kind
 * of object, through the V8 inspector protocol: {@link heapCounts} takes a heap snapshot (V8
 * collects garbage first) and counts the objects and their own bytes per constructor or closure
 * name; {@link heapGrowth} sets two such counts side by side, per unit (a socket, say).
 */

import { type CallFrame, connectInspector, frameName } from "./_inspector.ts";

/** Objects of one kind on the heap. */
export interface HeapKind {
  count: number;
  bytes: number;
}

/** Per kind (`<node type>:<name>`), the objects a heap snapshot holds. */
export type HeapCounts = Map<string, HeapKind>;

interface SnapshotMeta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
}

/** Takes a heap snapshot of the process at `inspect` (host:port) and counts it by kind. */
export async function heapCounts(inspect: string): Promise<HeapCounts> {
  const session = await connectInspector(inspect);
  const chunks: string[] = [];
  session.on("HeapProfiler.addHeapSnapshotChunk", (p) => chunks.push(String(p.chunk)));
  await session.call("HeapProfiler.enable");
  await session.call("HeapProfiler.takeHeapSnapshot");
  session.close();
  const snapshot = JSON.parse(chunks.join("")) as {
    snapshot: { meta: SnapshotMeta };
    nodes: number[];
    strings: string[];
  };
  const { node_fields: fields, node_types: [types] } = snapshot.snapshot.meta;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const counts: HeapCounts = new Map();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    // Strings, code and the engine's own arrays are named by content: one kind per type.
    const named = type === "object" || type === "closure" || type === "native";
    const key = named ? `${type}:${strings[nodes[i + nameAt]!]}` : type;
    const kind = counts.get(key) ?? { count: 0, bytes: 0 };
    kind.count++;
    kind.bytes += nodes[i + sizeAt]!;
    counts.set(key, kind);
  }
  return counts;
}

/** One kind's growth between two snapshots, per unit. */
export interface HeapGrowth {
  kind: string;
  countPerUnit: number;
  bytesPerUnit: number;
}

/** The kinds that grew the most in bytes from `before` to `after`, per `units`. */
export function heapGrowth(
  before: HeapCounts,
  after: HeapCounts,
  units: number,
  top = 25,
): HeapGrowth[] {
  const rows: HeapGrowth[] = [];
  for (const [kind, a] of after) {
    const b = before.get(kind) ?? { count: 0, bytes: 0 };
    rows.push({
      kind,
      countPerUnit: (a.count - b.count) / units,
      bytesPerUnit: (a.bytes - b.bytes) / units,
    });
  }
  return rows.sort((x, y) => y.bytesPerUnit - x.bytesPerUnit).slice(0, top);
}

interface SamplingNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SamplingNode[];
}

/** One allocation site of a sampling heap profile: the function and its share of the bytes. */
export interface AllocationSite {
  name: string;
  bytes: number;
  percent: number;
}

/**
 * Starts V8's sampling heap profiler in the process at `inspect` (host:port): every object
 * allocated is sampled about once per `intervalBytes`, with its stack, including the ones collected
 * since. The function it returns stops and gives the functions that allocated the most bytes.
 */
export async function startAllocationSampling(
  inspect: string,
  intervalBytes = 4096,
): Promise<(top?: number) => Promise<AllocationSite[]>> {
  const { call, close } = await connectInspector(inspect);
  await call("HeapProfiler.enable");
  await call("HeapProfiler.startSampling", {
    samplingInterval: intervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return async (top = 25) => {
    const { profile } = await call("HeapProfiler.stopSampling") as {
      profile: { head: SamplingNode };
    };
    close();
    const bytes = new Map<string, number>();
    let total = 0;
    const visit = (node: SamplingNode) => {
      const name = frameName(node.callFrame);
      bytes.set(name, (bytes.get(name) ?? 0) + node.selfSize);
      total += node.selfSize;
      for (const child of node.children) visit(child);
    };
    visit(profile.head);
    return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, n]) => ({
      name,
      bytes: n,
      percent: Number(((100 * n) / (total || 1)).toFixed(1)),
    }));
  };
}
