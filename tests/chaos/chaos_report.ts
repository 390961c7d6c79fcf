/**
 * What a chaos scenario prints when it passes: one block per scenario, the lines
 * docs/RELIABILITY.md records as the last run's result. Printed only after every assertion of the
 * scenario held, so a block in the output is a scenario that passed with these figures.
 */
import type { FollowSummary } from "./operation_follower.ts";

/** Seconds with one decimal. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Totals of the WebSocket followers of a scenario. */
export function followersLine(summaries: FollowSummary[]): string {
  const sum = (f: (s: FollowSummary) => number) => summaries.reduce((n, s) => n + f(s), 0);
  const violations = sum((s) => s.violations.length);
  return `${summaries.length} WebSocket clients, ${sum((s) => s.connections)} connections ` +
    `(${sum((s) => s.drops)} dropped by the client, ${sum((s) => s.serverCloses.length)} ` +
    `closed by the server), ${sum((s) => s.frames)} events, ${sum((s) => s.snapshots)} ` +
    `snapshots, ${violations} gaps or repeats`;
}

/** Prints the scenario's result block. */
export function printResult(scenario: string, startedAt: number, lines: string[]): void {
  const out = [`[chaos] ${scenario}: passed in ${seconds(performance.now() - startedAt)}`];
  for (const l of lines) out.push(`[chaos]   ${l}`);
  console.log(out.join("\n"));
}
