import assert from "node:assert/strict";
import { clientFor, sleep } from "../helpers/server.js";
import { startTcpRelay, type TcpRelay } from "../helpers/tcp-relay.js";
import { aliveMap, verdict } from "./harness/fleet.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./harness/processes.js";
import { record, truthFrom, type Recorder } from "./harness/watch-recorder.js";

const TTL = 3000;

describe("Faults with the memory store (SEMANTICS 2.6)", function () {
  let node: RosterNode | undefined;
  let load: Child | undefined;
  let loads: Child[] = [];
  let relay: TcpRelay | undefined;
  let truth: Recorder | undefined;

  afterEach(async () => {
    await truth?.finish().catch(() => {});
    await load?.kill();
    await Promise.all(loads.map((l) => l.kill()));
    loads = [];
    await node?.kill();
    await relay?.close();
    [truth, load, node, relay] = [undefined, undefined, undefined, undefined];
  });

  it("2.6 all clients cut off from a memory node by a partition for 6 s (TTL 3 s), protection defaults: 0 false expiries, also after the heal", async () => {
    node = await spawnRoster({ "min-ttl-ms": 1000 });
    relay = await startTcpRelay(node.port);
    truth = record("truth", clientFor(node.url), "pay");
    const from = Date.now();
    load = await spawnLoad({ registry: [`http://127.0.0.1:${relay.port}`], service: "pay", count: 300, ttlMs: TTL });
    await sleep(2000);
    relay.freeze();
    const cutAt = Date.now();
    await sleep(6000);
    relay.thaw();
    const healAt = Date.now();
    await sleep(2 * TTL);
    const t = truth;
    truth = undefined;
    const record_ = await t.finish();
    const changes = truthFrom(record_);
    const expired = changes.filter((c) => c.kind === "delete" && c.cause === "expired");
    const during = expired.filter((c) => c.at >= cutAt && c.at < healAt).length;
    const after = expired.filter((c) => c.at >= healAt).length;
    const report = await verdict("memory-partition-6s", [], () => ({ eras: [{ startedAt: 0, changes }] }), aliveMap("pay", 300, from, Date.now()), `expiredDuring=${during} expiredAfterHeal=${after}`);
    assert.equal(report.falseExpiries, 0);
  });

  /**
   * Ten load processes of 20 instances each beat through the SDK; `dead` of
   * them are SIGKILLed together (a real death: no deregistration, no beat).
   * Returns when the kill happened, the dead keys and when the fleet came up.
   */
  async function massDeath(dead: number, flags: Record<string, string | number>): Promise<{ killAt: number; deadKeys: Set<string>; from: number }> {
    node = await spawnRoster({ "min-ttl-ms": 1000, ...flags });
    truth = record("truth", clientFor(node.url), "pay");
    const from = Date.now();
    loads = await Promise.all(Array.from({ length: 10 }, (_, p) => spawnLoad({ registry: [node!.url], service: "pay", count: 20, ttlMs: TTL, first: p * 20 })));
    await sleep(2000);
    const killAt = Date.now();
    await Promise.all(loads.slice(0, dead).map((l) => l.kill()));
    const deadKeys = new Set(Array.from({ length: dead * 20 }, (_, i) => `default/pay/i${i}`));
    return { killAt, deadKeys, from };
  }

  it("2.6 30 % of the fleet really dies (clients SIGKILLed) while the rest beat through the SDK: no protection, the dead expire within TTL + 1 s, no false expiry", async () => {
    const { killAt, deadKeys, from } = await massDeath(3, {});
    await sleep(TTL + 3000);
    const t = truth!;
    truth = undefined;
    const changes = truthFrom(await t.finish());
    const expired = changes.filter((c) => c.kind === "delete" && c.cause === "expired");
    const latest = Math.max(0, ...expired.map((c) => c.at - killAt));
    const alive = new Map([...aliveMap("pay", 200, from, Date.now())].filter(([k]) => !deadKeys.has(k)));
    const report = await verdict("memory-30pct-death", [], () => ({ eras: [{ startedAt: 0, changes }] }), alive, `deadExpired=${expired.length}/${deadKeys.size} latestAfterKillMs=${latest}`);
    assert.equal(report.falseExpiries, 0);
    assert.deepEqual(new Set(expired.map((c) => c.key)), deadKeys);
    assert.ok(latest <= TTL + 1000, `the last dead instance expired ${latest} ms after the kill`);
    assert.doesNotMatch(node!.output(), /suspending expiry/);
  });

  it("2.6 80 % of the fleet really dies: protection holds them, then after expiry-protection-max-ms they expire and the log says so", async () => {
    const maxMs = 4000;
    const { killAt, deadKeys, from } = await massDeath(8, { "expiry-protection-max-ms": maxMs });
    await sleep(TTL + 1000);
    const early = truth!.items.filter((i) => i.kind === "event" && i.type === "REMOVED").length;
    await sleep(maxMs + 2000);
    const t = truth!;
    truth = undefined;
    const changes = truthFrom(await t.finish());
    const expired = changes.filter((c) => c.kind === "delete" && c.cause === "expired");
    const first = Math.min(...expired.map((c) => c.at - killAt));
    const alive = new Map([...aliveMap("pay", 200, from, Date.now())].filter(([k]) => !deadKeys.has(k)));
    const report = await verdict("memory-80pct-death", [], () => ({ eras: [{ startedAt: 0, changes }] }), alive, `heldAtTtl=${early === 0} deadExpired=${expired.length}/${deadKeys.size} firstAfterKillMs=${first}`);
    assert.equal(report.falseExpiries, 0);
    assert.equal(early, 0, "held past the TTL");
    assert.deepEqual(new Set(expired.map((c) => c.key)), deadKeys);
    assert.ok(first >= maxMs, `the first dead instance expired ${first} ms after the kill`);
    assert.match(node!.output(), /suspending expiry/);
    assert.match(node!.output(), /longest allowed.*expire now/);
  });

  it("2.6 SIGSTOP of a memory node for 2×TTL with protection on: 0 false expiries (what held)", async () => {
    node = await spawnRoster({ "min-ttl-ms": 1000 });
    truth = record("truth", clientFor(node.url), "pay");
    const from = Date.now();
    load = await spawnLoad({ registry: [node.url], service: "pay", count: 300, ttlMs: TTL });
    await sleep(2000);
    node.stop();
    await sleep(2 * TTL);
    node.cont();
    await sleep(2 * TTL);
    const t = truth;
    truth = undefined;
    const rec = await t.finish();
    const changes = truthFrom(rec);
    const report = await verdict("memory-sigstop-2ttl", [], () => ({ eras: [{ startedAt: 0, changes }] }), aliveMap("pay", 300, from, Date.now()));
    assert.equal(report.falseExpiries, 0);
  });
});
