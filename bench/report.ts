import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SystemName } from "./servers.ts";
import type { HeartbeatStep } from "./workloads/heartbeat.ts";
import type { Metrics } from "./workload.ts";

/** A workload's outcome on one system: its metrics, or why it failed. */
export type Outcome = Metrics | { readonly error: string };

/** Everything a run produced: results[workload][system]. */
export interface RunResults {
  readonly startedAt: string;
  readonly mode: "quick" | "full";
  readonly machine: string;
  readonly notes: readonly string[];
  readonly results: Record<string, Partial<Record<SystemName, Outcome>>>;
}

type Get = (r: RunResults, s: SystemName) => number | undefined;

/** A target from the issue: `check` answers met/missed, or undefined when a figure is missing. */
interface Target {
  readonly text: string;
  readonly check: (r: RunResults) => boolean | undefined;
}

interface Row {
  readonly workload: string;
  readonly metric: string;
  readonly get: Get;
  readonly digits: number;
  readonly targets?: readonly Target[];
}

function metric(r: RunResults, workload: string, s: SystemName, key: string): number | undefined {
  const o = r.results[workload]?.[s];
  if (!o || "error" in o) return undefined;
  const v = o[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

const m = (workload: string, key: string): Get => (r, s) => metric(r, workload, s, key);

function steps(r: RunResults, s: SystemName): HeartbeatStep[] {
  const o = r.results.heartbeat?.[s];
  return o && !("error" in o) ? (o.steps as HeartbeatStep[]) : [];
}

/** The largest heartbeat step that both Roster (memory) and etcd held: CPU per beat is compared there. */
function commonStep(r: RunResults): number | undefined {
  const ok = (s: SystemName) => new Set(steps(r, s).filter((x) => x.falseExpiries === 0 && x.generatorKeptUp).map((x) => x.instances));
  const a = ok("roster-memory");
  const b = ok("etcd");
  const both = [...a].filter((n) => b.has(n));
  return both.length ? Math.max(...both) : undefined;
}

const perBeat: Get = (r, s) => {
  const n = commonStep(r) ?? steps(r, s)[0]?.instances;
  return steps(r, s).find((x) => x.instances === n)?.cpuUsPerBeat;
};

const mem = (r: RunResults, g: Get) => g(r, "roster-memory");
const etcd = (r: RunResults, g: Get) => g(r, "etcd");

function atMostFraction(g: Get, fraction: number, label: string): Target {
  return {
    text: `≤ 1/${1 / fraction} of etcd (${label})`,
    check: (r) => {
      const a = mem(r, g);
      const b = etcd(r, g);
      return a === undefined || b === undefined ? undefined : a <= b * fraction;
    },
  };
}

function below(g: Get, limit: number, text: string, system: SystemName = "roster-memory"): Target {
  return { text, check: (r) => (g(r, system) === undefined ? undefined : g(r, system)! < limit) };
}

function atLeast(g: Get, limit: number, text: string, system: SystemName = "roster-memory"): Target {
  return { text, check: (r) => (g(r, system) === undefined ? undefined : g(r, system)! >= limit) };
}

function rows(r: RunResults): Row[] {
  const out: Row[] = [
    { workload: "register", metric: "registrations/s", get: m("register", "perSec"), digits: 0, targets: [atLeast(m("register", "perSec"), 10_000, "≥ 10,000/s memory"), atLeast(m("register", "perSec"), 5_000, "≥ 5,000/s Redis", "roster-redis")] },
    { workload: "register", metric: "p50 ms", get: m("register", "p50Ms"), digits: 2 },
    { workload: "register", metric: "p99 ms", get: m("register", "p99Ms"), digits: 2 },
    { workload: "register", metric: "server CPU µs/op", get: m("register", "cpuUsPerOp"), digits: 1, targets: [atMostFraction(m("register", "cpuUsPerOp"), 0.1, "etcd ≈ 430 µs")] },
    { workload: "register", metric: "server cores", get: m("register", "serverCores"), digits: 2 },
    { workload: "register", metric: "generator cores", get: m("register", "generatorCores"), digits: 2 },
    { workload: "heartbeat", metric: "instances held, 0 false expiries", get: m("heartbeat", "heldInstances"), digits: 0, targets: [atLeast(m("heartbeat", "heldInstances"), 20_000, "≥ 20,000")] },
    { workload: "heartbeat", metric: `server CPU µs/beat at ${commonStep(r) ?? "first"} step`, get: perBeat, digits: 1, targets: [atMostFraction(perBeat, 0.1, "etcd ≈ 250 µs")] },
    { workload: "resolve", metric: "requests/s", get: m("resolve", "perSec"), digits: 0, targets: [{ text: "≥ etcd", check: (x) => cmp(x, m("resolve", "perSec"), (a, b) => a >= b) }] },
    { workload: "resolve", metric: "p50 ms", get: m("resolve", "p50Ms"), digits: 2 },
    { workload: "resolve", metric: "p99 ms", get: m("resolve", "p99Ms"), digits: 2, targets: [{ text: "≤ etcd", check: (x) => cmp(x, m("resolve", "p99Ms"), (a, b) => a <= b) }] },
    { workload: "resolve", metric: "server CPU µs/op", get: m("resolve", "cpuUsPerOp"), digits: 1, targets: [atMostFraction(m("resolve", "cpuUsPerOp"), 0.25, "etcd ≈ 160 µs")] },
    { workload: "resolve", metric: "server cores", get: m("resolve", "serverCores"), digits: 2 },
    { workload: "resolve", metric: "generator cores", get: m("resolve", "generatorCores"), digits: 2 },
  ];
  const sizes = new Set<string>();
  for (const o of Object.values(r.results.fanout ?? {})) {
    if (o && !("error" in o)) for (const k of Object.keys(o)) sizes.add(k.split(".")[0]!);
  }
  for (const n of [...sizes].sort((a, b) => Number(a) - Number(b))) {
    const limit = Number(n) <= 1_000 ? 20 : 200;
    out.push(
      { workload: `watch fan-out ×${n}`, metric: "p50 ms", get: m("fanout", `${n}.p50Ms`), digits: 1 },
      { workload: `watch fan-out ×${n}`, metric: "p99 ms", get: m("fanout", `${n}.p99Ms`), digits: 1, targets: [below(m("fanout", `${n}.p99Ms`), limit, `< ${limit} ms`)] },
      { workload: `watch fan-out ×${n}`, metric: "server CPU µs/event", get: m("fanout", `${n}.cpuUsPerEvent`), digits: 2, targets: [atMostFraction(m("fanout", `${n}.cpuUsPerEvent`), 0.25, "etcd ≈ 20 µs")] },
      { workload: `watch fan-out ×${n}`, metric: "generator cores", get: m("fanout", `${n}.generatorCores`), digits: 2 },
      { workload: `watch fan-out ×${n}`, metric: "generator CPU µs/event", get: m("fanout", `${n}.generatorUsPerEvent`), digits: 1 },
    );
  }
  out.push(
    { workload: "expiry (TTL 2 s)", metric: "p50 ms after last beat", get: m("expiry", "p50Ms"), digits: 0 },
    { workload: "expiry (TTL 2 s)", metric: "p99 ms after last beat", get: m("expiry", "p99Ms"), digits: 0, targets: [below(m("expiry", "p99Ms"), 2_250, "< TTL + 250 ms")] },
    { workload: "memory", metric: "bytes per instance", get: m("memory", "bytesPerInstance"), digits: 0, targets: [below(m("memory", "bytesPerInstance"), 1_024, "< 1 KiB")] },
    { workload: "memory", metric: "bytes per idle watch", get: m("memory", "bytesPerWatch"), digits: 0, targets: [below(m("memory", "bytesPerWatch"), 10_240, "< 10 KiB")] },
  );
  return out;
}

function cmp(r: RunResults, g: Get, ok: (a: number, b: number) => boolean): boolean | undefined {
  const a = mem(r, g);
  const b = etcd(r, g);
  return a === undefined || b === undefined ? undefined : ok(a, b);
}

function fmt(v: number | null | undefined, digits: number): string {
  // Results read back from JSON carry null where a run had no figure.
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(head: string[], body: string[][]): string {
  const lines = [head, head.map(() => "---"), ...body];
  return lines.map((l) => `| ${l.join(" | ")} |`).join("\n");
}

/** The comparison table, markdown, with each target marked met or missed. */
export function summaryTable(r: RunResults): string {
  const body = rows(r).map((row) => {
    const a = row.get(r, "roster-memory");
    const b = row.get(r, "etcd");
    const ratio = a !== undefined && b !== undefined && b !== 0 ? `${(a / b).toFixed(2)}×` : "–";
    const verdicts = (row.targets ?? []).map((t) => {
      const ok = t.check(r);
      return `${t.text}: ${ok === undefined ? "n/a" : ok ? "**met**" : "**missed**"}`;
    });
    return [row.workload, row.metric, fmt(a, row.digits), fmt(b, row.digits), ratio, fmt(row.get(r, "roster-redis"), row.digits), verdicts.join("; ")];
  });
  return table(["Workload", "Metric", "Roster (memory)", "etcd 3.4", "Roster/etcd", "Roster (Redis)", "Target"], body);
}

/** One line per heartbeat step and system. */
export function heartbeatTable(r: RunResults): string {
  const body: string[][] = [];
  for (const s of ["roster-memory", "etcd", "roster-redis"] as const) {
    for (const x of steps(r, s)) {
      body.push([
        s,
        fmt(x.instances, 0),
        (x.registered ?? x.instances) === x.instances ? fmt(x.registerSec, 0) : `${fmt(x.registered, 0)} in ${fmt(x.registerSec, 0)} (budget out)`,
        fmt(x.beatsPerSec, 0),
        fmt(x.cpuUsPerBeat, 1),
        fmt(x.serverCores, 2),
        fmt(x.generatorCores, 2),
        fmt(x.serverRssMiB, 0),
        String(x.falseExpiries),
        String(x.streamErrors),
        fmt(x.maxGapMs, 0),
        x.generatorKeptUp ? "yes" : "no",
      ]);
    }
  }
  return table(["System", "Instances", "Registered in s", "Beats/s sent", "Server CPU µs/beat", "Server cores", "Generator cores", "Server RSS MiB", "False expiries", "Stream errors", "Max beat gap ms", "Generator kept up"], body);
}

/** Prints the whole report: tables, notes, failures. */
export function printReport(r: RunResults, path: string): void {
  console.log(`\nRoster benchmark, ${r.mode} mode, ${r.startedAt}\n${r.machine}\n`);
  console.log(summaryTable(r));
  if (r.results.heartbeat) console.log(`\nHeartbeat ramp\n\n${heartbeatTable(r)}`);
  console.log("");
  for (const n of r.notes) console.log(`- ${n}`);
  for (const e of errors(r)) console.log(`- FAILED ${e}`);
  console.log(`\nResults: ${path}`);
}

/** Failures, one line each. */
export function errors(r: RunResults): string[] {
  const out: string[] = [];
  for (const [w, bySystem] of Object.entries(r.results)) {
    for (const [s, o] of Object.entries(bySystem)) if (o && "error" in o) out.push(`${w} on ${s}: ${o.error}`);
  }
  return out;
}

/** Writes the results as JSON under bench/results/ and returns the path. */
export function writeJson(r: RunResults): string {
  const dir = fileURLToPath(new URL("results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const path = `${dir}${r.startedAt.replace(/[:.]/g, "-")}-${r.mode}.json`;
  writeFileSync(path, JSON.stringify(r, null, 2) + "\n");
  return path;
}
