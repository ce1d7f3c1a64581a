/**
 * `npm run bench:cli [-- --runs 15]`: how long the built `roster` command
 * takes to start, next to a bare `node -e ""`. Each case runs `--runs` times
 * as a fresh process, in two rounds; prints min / median / max per round.
 * Targets (issue 9): `roster --help` under 250 ms, `roster ls` against a
 * local registry under 400 ms.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "./servers.ts";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "15" } } });
const runs = Math.max(10, Number(args.runs));
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = fileURLToPath(new URL("../bin/roster.js", import.meta.url));
if (!existsSync(new URL("../dist/src/cli/main.js", import.meta.url))) throw new Error("dist/ is missing: run `npm run build` first (npm run bench:cli does)");

/** Wall time of one process from spawn to exit, in milliseconds. */
function time(argv: readonly string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, argv, { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
  return performance.now() - t0;
}

function stats(samples: number[]): { min: number; median: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server = spawn(process.execPath, [bin, "serve", "--port", String(port), "--log-level", "warn"], { stdio: ["ignore", "ignore", "inherit"] });
try {
  const ready = Date.now() + 15_000;
  for (;;) {
    try {
      execFileSync(process.execPath, [bin, "ls", "--registry", url], { stdio: "ignore" });
      break;
    } catch {
      if (Date.now() > ready) throw new Error("the registry did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const cases: { name: string; argv: string[]; targetMs?: number }[] = [
    { name: 'node -e ""', argv: ["-e", ""] },
    { name: "roster --help", argv: [bin, "--help"], targetMs: 250 },
    { name: "roster ls", argv: [bin, "ls", "--registry", url], targetMs: 400 },
  ];
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}; ${runs} runs per case and round\n`);
  console.log("| round | command | min ms | median ms | max ms | target |");
  console.log("| --- | --- | ---: | ---: | ---: | --- |");
  for (const round of [1, 2]) {
    for (const c of cases) {
      time(c.argv); // warm the file cache
      const { min, median, max } = stats(Array.from({ length: runs }, () => time(c.argv)));
      const target = c.targetMs === undefined ? "" : `< ${c.targetMs} ms: ${median < c.targetMs ? "met" : "MISSED"} (median)`;
      console.log(`| ${round} | \`${c.name}\` | ${min.toFixed(0)} | ${median.toFixed(0)} | ${max.toFixed(0)} | ${target} |`);
    }
  }
} finally {
  server.kill("SIGTERM");
}
