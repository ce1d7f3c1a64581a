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
  let relay: TcpRelay | undefined;
  let truth: Recorder | undefined;

  afterEach(async () => {
    await truth?.finish().catch(() => {});
    await load?.kill();
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
