/**
 * `tsx bench/profile-top.ts <file.cpuprofile> [--top n] [--skip seconds]`:
 * the functions and files with the most self time in a V8 CPU profile (as
 * `npm run bench -- --profile` writes for each Roster server), leaving out
 * the first `--skip` seconds (start-up: module loading and compilation).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" }, skip: { type: "string", default: "0" } } });
const file = positionals[0];
if (!file) throw new Error("usage: tsx bench/profile-top.ts <file.cpuprofile> [--top n] [--skip seconds]");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((x) => [x.id, x]));
const parent = new Map<number, number>();
for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const label = (x: Node) => {
  const { functionName, url, lineNumber } = x.callFrame;
  const where = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(src|bench)\//, "$1/");
  return { fn: `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`, where, functionName };
};
/** Inclusive time of Roster's own functions (src/): a sample counts once for every distinct src/ function on its stack. */
const inclusive = new Map<string, number>();
const skipUs = Number(values.skip) * 1e6;
const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
let t = 0;
let total = 0;
let busy = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i]!;
  if (t < skipUs) continue;
  const { fn, where, functionName } = label(byId.get(profile.samples[i]!)!);
  total++;
  if (functionName === "(idle)") continue;
  busy++;
  const onStack = new Set<string>();
  for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id)!);
    if (l.where.startsWith("src/")) onStack.add(l.fn);
  }
  for (const f of onStack) inclusive.set(f, (inclusive.get(f) ?? 0) + 1);
  byFn.set(fn, (byFn.get(fn) ?? 0) + 1);
  const f = where || functionName;
  byFile.set(f, (byFile.get(f) ?? 0) + 1);
}
const top = (m: Map<string, number>) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(values.top))
    .map(([k, v]) => `${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`)
    .join("\n");
console.log(`${total} samples after ${values.skip} s, ${busy} not idle; shares of non-idle samples.\n\nSelf time by function:\n${top(byFn)}\n\nSelf time by file:\n${top(byFile)}\n\nInclusive time of src/ functions:\n${top(inclusive)}`);
