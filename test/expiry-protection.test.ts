import { strict as assert } from "node:assert";
import { WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { collectWatch } from "./helpers/watch.js";
import { startTestServer, until, sleep, type TestServer } from "./helpers/server.js";
import { startTcpRelay, type TcpRelay } from "./helpers/tcp-relay.js";
import { spawnLoad, type Child } from "./fault/harness/processes.js";

const N = Number(process.env.ROSTER_PARTITION_INSTANCES ?? 500);

describe("Expiry protection under a partition (SEMANTICS 2.6)", function () {
  this.timeout(120_000);
  let t: TestServer;
  let relay: TcpRelay;
  const fleets: Child[] = [];
  after(async () => {
    await Promise.all(fleets.map((f) => f.kill()));
    await relay?.close();
    await t?.close();
  });

  it(`2.6 ${N} live instances cut off from a memory node for 6 s with TTL 3 s: no false expiry, during the cut or after it heals`, async () => {
    t = await startTestServer({ timing: { sweepIntervalMs: 100 } });
    relay = await startTcpRelay(t.port);
    const watch = collectWatch(t.client, { service: "fleet" }); // direct, not through the relay
    await watch.waitFor(1);
    // Five client processes, each one Registrar (one HTTP/2 connection) through the relay. In processes of their own,
    // so how fast they reconnect after the heal does not depend on how busy this one (the server's) is.
    const per = Math.ceil(N / 5);
    for (let c = 0; c * per < N; c++) {
      fleets.push(await spawnLoad({ registry: [`127.0.0.1:${relay.port}`], service: "fleet", count: Math.min(per, N - c * per), ttlMs: 3000, first: c * per }));
    }
    await until("all registered", async () => (await t.client.getStatus({})).leases === N, 20_000);
    await sleep(2000); // steady beats
    relay.cut();
    let protectedAt: number | undefined;
    const cutAt = Date.now();
    while (Date.now() - cutAt < 6000) {
      if (protectedAt === undefined && (await t.client.getStatus({})).expiryProtection) protectedAt = Date.now() - cutAt;
      await sleep(50);
    }
    relay.restore();
    await sleep(8000); // clients reconnect with backoff; leases that fell due get one TTL of grace
    const removed = watch.events.filter((e) => e.type === WatchEventType.REMOVED).length;
    const status = await t.client.getStatus({});
    console.log(`      protection after ${protectedAt} ms; false expiries ${removed}; leases ${status.leases}; protection now ${status.expiryProtection}`);
    assert.equal(removed, 0);
    assert.equal(status.leases, N);
    // A lease is taken for unrenewed two beat intervals (2 s) after its last beat, so half of them are 1.5-2 s after the
    // cut (later when registrars' beats cluster), plus a sweep and a poll; the false-expiry count above is the strict check.
    assert.ok(protectedAt !== undefined && protectedAt < 2000 + 300, `protection started ${protectedAt} ms after the cut`);
    assert.equal(status.expiryProtection, false);
    await watch.stop();
  });
});
