import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { CheckStatus } from "../../src/core/types.js";
import { decodeRecord } from "../../src/store/redis/codec.js";
import { redisKeys } from "../../src/store/redis/scripts.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";
import { until } from "../helpers/server.js";
import { killProcess } from "../helpers/kill-process.js";

/** The membership settings of every node (the defaults, written out so the bounds below read them). */
const LEASE_MS = 3000;
const RENEW_MS = 1000;
/** What an assertion adds to a bound: timers slip on a loaded machine (the figure printed is the measured one). */
const SLIP_MS = 500;

/** A check-node (harness/check-node.ts): a store in its own process, commanded on stdin. */
interface CheckNode {
  readonly proc: ChildProcess;
  readonly self: string;
  /** Sends a command and waits for its answer. */
  ask(cmd: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Membership changes the node was told, with when. */
  readonly views: { at: number; nodes?: string[] }[];
  kill(): Promise<void>;
}

async function spawnCheckNode(args: { url: string; prefix: string; leaseMs: number; renewMs: number }): Promise<CheckNode> {
  const script = fileURLToPath(new URL("./harness/check-node.ts", import.meta.url));
  const proc = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(args)], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting: ((o: Record<string, unknown>) => void)[] = [];
  const views: { at: number; nodes?: string[] }[] = [];
  let ready!: (self: string) => void;
  const started = new Promise<string>((r) => (ready = r));
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o.ready === "string") ready(o.ready);
    else if (o.event === "view") views.push({ at: o.at as number, ...(o.nodes ? { nodes: o.nodes as string[] } : {}) });
    else waiting.shift()?.(o);
  });
  const self = await started;
  return {
    proc,
    self,
    views,
    ask: (cmd) =>
      new Promise((r) => {
        waiting.push(r);
        proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
      }),
    kill: () => killProcess(proc),
  };
}

describe("Check commits across three store processes on one Redis, driven through the Store API (SEMANTICS 6.2, issue 14)", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let raw: Redis;
  let procs: CheckNode[] = [];
  let prefixes = 0;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill()));
  });
  after(async () => {
    raw?.disconnect();
    await redis?.close();
  });

  async function three(): Promise<CheckNode[]> {
    const prefix = `checks-api-${++prefixes}`;
    procs = await Promise.all([0, 1, 2].map(() => spawnCheckNode({ url: redis.url, prefix, leaseMs: LEASE_MS, renewMs: RENEW_MS })));
    await until("every node sees three members", async () => (await Promise.all(procs.map((p) => p.ask({ op: "hold" })))).every((h) => (h.nodes as string[] | undefined)?.length === 3), 10_000);
    await procs[0]!.ask({ op: "register", id: "i1", checks: ["http"] });
    return procs;
  }

  it("6.2 a node SIGSTOPped past its lease commits under the fence it held: refused (fenced); the live node's commit stands", async () => {
    const [live, paused] = await three();
    paused!.proc.kill("SIGSTOP");
    const stoppedAt = Date.now();
    await until("the live node sees the paused one dropped", async () => ((await live!.ask({ op: "hold" })).nodes as string[]).length === 2, LEASE_MS + 3 * RENEW_MS);
    const droppedAfter = Date.now() - stoppedAt;
    assert.equal((await live!.ask({ op: "commit", id: "i1", check: "http", status: "FAILING" })).outcome, "committed");
    paused!.proc.kill("SIGCONT");
    const stale = await paused!.ask({ op: "commit", id: "i1", check: "http", status: "PASSING" });
    const prefix = `checks-api-${prefixes}`;
    const rec = decodeRecord((await raw.hget(redisKeys(prefix).instances, "default/web/i1"))!);
    await until("the paused node rejoins", () => paused!.views.some((v) => v.nodes?.length === 3 && v.at > stoppedAt), 5000);
    const rejoined = await paused!.ask({ op: "hold" });
    const fresh = await paused!.ask({ op: "commit", id: "i1", check: "http", status: "PASSING" });
    console.log(`      CHECKS[sigstop-store-api] droppedAfterMs=${droppedAfter} staleCommit=${String(stale.outcome)} committedStatus=${CheckStatus[rec.health[0]!.status]} rejoinedEpoch=${String(rejoined.epoch)} afterRejoin=${String(fresh.outcome)}`);
    assert.equal(stale.outcome, "fenced");
    assert.equal(rec.health[0]!.status, CheckStatus.FAILING, "the live node's result stands");
    assert.ok(rec.health[0]!.output.includes(live!.self));
    assert.ok(BigInt(rejoined.epoch as string) > BigInt(stale.epoch as string));
    assert.equal(fresh.outcome, "committed");
  });

  it("6.2 SIGKILL of a node: the others see it leave the membership within member lease + one renewal", async () => {
    const [a, , victim] = await three();
    const killedAt = Date.now();
    await victim!.kill();
    await until("the victim dropped", async () => ((await a!.ask({ op: "hold" })).nodes as string[]).length === 2, LEASE_MS + 3 * RENEW_MS);
    const after = Date.now() - killedAt;
    console.log(`      CHECKS[sigkill-store-api] droppedAfterMs=${after} bound=${LEASE_MS + RENEW_MS}`);
    assert.ok(after <= LEASE_MS + RENEW_MS + SLIP_MS, `dropped after ${after} ms`);
  });
});
