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
const skipUs = Number(values.skip) * 1e6;
const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
let t = 0;
let total = 0;
let busy = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i]!;
  if (t < skipUs) continue;
  const { functionName, url, lineNumber } = byId.get(profile.samples[i]!)!.callFrame;
  const where = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(src|bench)\//, "$1/");
  const fn = `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
  total++;
  if (functionName === "(idle)") continue;
  busy++;
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
console.log(`${total} samples after ${values.skip} s, ${busy} not idle; shares of non-idle samples.\n\nSelf time by function:\n${top(byFn)}\n\nSelf time by file:\n${top(byFile)}`);
