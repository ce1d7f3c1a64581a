import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { InstanceStatus, RemovalReason, WatchEventType } from "../../gen/roster/v1/registry_pb.js";
import { collectWatch } from "../helpers/watch.js";
import { sleep, until, type TestServer } from "../helpers/server.js";
import type { Target } from "./target.js";

/** A Heartbeat stream the test drives by hand. */
function beater(t: TestServer, first: { service: string; id: string; status?: InstanceStatus; load?: number }) {
  const queue: object[] = [first];
  let wake: (() => void) | undefined;
  let open = true;
  const ac = new AbortController();
  async function* requests() {
    while (open) {
      while (queue.length > 0) yield queue.shift()!;
      if (!open) return;
      await new Promise<void>((r) => (wake = r));
    }
  }
  const result = t.client.heartbeat(requests(), { signal: ac.signal }).then(
    (r) => ({ ok: true as const, beats: r.beats }),
    (e: unknown) => ({ ok: false as const, error: ConnectError.from(e) }),
  );
  return {
    beat(msg: object = {}) {
      queue.push(msg);
      wake?.();
    },
    end() {
      open = false;
      wake?.();
      return result;
    },
    /** Breaks the stream the way a network fault would: the client side goes away without ending it. */
    break() {
      ac.abort();
      return result;
    },
    result,
  };
}

/** The SEMANTICS 2 claims, checked on one target (a front end and a store). */
export function leasesSuite(target: Target): void {
  // Tests that wait for leases to run out: the front end takes no part, so they run on one front end per store.
  const itSlow = (title: string, fn: () => Promise<void>) => target.runsSlowTests && it(title, fn);

  describe("Leases and heartbeats (SEMANTICS 2)", function () {
    this.timeout(20000);
    let t: TestServer;
    before(async () => (t = await target.start({ limits: { minTtlMs: 200 } })));
    after(() => t.close());

    itSlow("expires an instance with no heartbeat within TTL + 1 s, reason expired (2.1)", async () => {
      const w = collectWatch(t.client, { service: "exp" });
      await w.waitFor(1);
      const reg = await t.client.register({ service: "exp", id: "a", host: "h", port: 1, ttl: { nanos: 500_000_000 } });
      const registeredAt = Date.now();
      await until("removal", () => w.events.some((e) => e.type === WatchEventType.REMOVED), 3000);
      const elapsed = Date.now() - registeredAt;
      await w.stop();
      const removal = w.events.find((e) => e.type === WatchEventType.REMOVED)!;
      assert.equal(removal.reason, RemovalReason.EXPIRED);
      assert.equal(removal.instance!.id, reg.instance!.id);
      assert.ok(elapsed >= 450 && elapsed <= 1500, `expired ${elapsed} ms after the last renewal; TTL 500 ms`);
    });

    it("renews the lease on each heartbeat (2.1)", async () => {
      await t.client.register({ service: "renew", id: "a", host: "h", port: 1, ttl: { nanos: 400_000_000 } });
      const hb = beater(t, { service: "renew", id: "a" });
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        hb.beat();
      }
      const res = await t.client.resolve({ service: "renew" });
      assert.equal(res.instances.length, 1);
      const end = await hb.end();
      assert.ok(end.ok);
      assert.equal(end.beats, 11n);
    });

    it("keeps the instance when the heartbeat stream breaks, and a new stream (even on another connection) carries on (2.2)", async () => {
      const w = collectWatch(t.client, { service: "broken" });
      await w.waitFor(1);
      await t.client.register({ service: "broken", id: "a", host: "h", port: 1, ttl: { seconds: 1n } });
      const hb = beater(t, { service: "broken", id: "a" });
      await sleep(100);
      await hb.break();
      await sleep(500);
      assert.equal((await t.client.resolve({ service: "broken" })).instances.length, 1, "a broken stream must not remove the instance");
      const other = target.client(t.url);
      await other.heartbeat((async function* () {
        yield { service: "broken", id: "a" };
      })());
      await sleep(700);
      // 1.2 s after the first beat, 0.7 s after the second: alive thanks to the second stream.
      assert.equal((await t.client.resolve({ service: "broken" })).instances.length, 1);
      await w.stop();
      assert.deepEqual(w.events.map((e) => e.type), [WatchEventType.SNAPSHOT_COMPLETE, WatchEventType.ADDED], "watchers saw no change");
    });

    it("removes at once with reason deregistered when the client leaves (2.3)", async () => {
      await t.client.register({ service: "leave", id: "a", host: "h", port: 1, ttl: { seconds: 30n } });
      const w = collectWatch(t.client, { service: "leave" });
      await w.waitFor(2);
      const start = Date.now();
      await t.client.deregister({ service: "leave", id: "a" });
      await w.waitFor(3);
      await w.stop();
      assert.ok(Date.now() - start < 1000);
      assert.equal(w.events[2]!.type, WatchEventType.REMOVED);
      assert.equal(w.events[2]!.reason, RemovalReason.DEREGISTERED);
      await assert.rejects(t.client.deregister({ service: "leave", id: "a" }), (e: unknown) => e instanceof ConnectError && e.code === Code.NotFound);
    });

    itSlow("ends a heartbeat stream for an unknown instance with NOT_FOUND (2.4)", async () => {
      const hb = beater(t, { service: "ghost", id: "nobody" });
      const r = await hb.result;
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.error.code, Code.NotFound);
      hb.end();
      // And for one that expired while the stream was quiet.
      await t.client.register({ service: "ghost", id: "late", host: "h", port: 1, ttl: { nanos: 300_000_000 } });
      const late = beater(t, { service: "ghost", id: "late" });
      await sleep(1400);
      late.beat();
      const lr = await late.result;
      assert.equal(!lr.ok && lr.error.code, Code.NotFound);
      late.end();
    });

    itSlow("keeps an instance with no TTL until it is deregistered (2.5)", async () => {
      await t.client.register({ service: "forever", id: "a", host: "h", port: 1 });
      await sleep(1200);
      const res = await t.client.resolve({ service: "forever" });
      assert.equal(res.instances.length, 1);
      assert.equal(res.instances[0]!.ttl, undefined);
    });

    it("refuses a heartbeat stream that switches instance with INVALID_ARGUMENT", async () => {
      await t.client.register({ service: "switch", id: "a", host: "h", port: 1, ttl: { seconds: 5n } });
      const hb = beater(t, { service: "switch", id: "a" });
      hb.beat({ service: "switch", id: "b" });
      const r = await hb.result;
      assert.equal(!r.ok && r.error.code, Code.InvalidArgument);
      hb.end();
    });
  });

  describe("Expiry protection (SEMANTICS 2.6)", function () {
    this.timeout(20000);
    let t: TestServer;
    before(
      async () =>
        (t = await target.start({
          limits: { minTtlMs: 200 },
          timing: { expiryProtectionThreshold: 0.5, expiryProtectionMinLeases: 4, expiryProtectionWindowMs: 3000 },
        })),
    );
    after(() => t.close());

    itSlow("suspends expiry after the registry stalls with most leases past due, says so, and resumes when heartbeats return", async () => {
      const w = collectWatch(t.client, { service: "herd" });
      await w.waitFor(1);
      for (let i = 0; i < 8; i++) await t.client.register({ service: "herd", id: `i${i}`, host: "h", port: 1, ttl: { nanos: 400_000_000 } });
      // The registry itself stalls (as in a long GC pause or a frozen VM): every lease is past due when it wakes.
      const stallUntil = Date.now() + 600;
      while (Date.now() < stallUntil);
      await until("protection", async () => (await t.client.getStatus({})).expiryProtection, 3000);
      const metrics = await (await fetchMetrics(t)).text();
      assert.match(metrics, /roster_expiry_protection 1/);
      await sleep(300);
      assert.equal(w.events.filter((e) => e.type === WatchEventType.REMOVED).length, 0);
      assert.equal((await t.client.resolve({ service: "herd" })).instances.length, 8);
      // Heartbeats return for seven of eight, more often than the TTL/3 clients must keep (protection ends once 1 - threshold/2 of the
      // expected renewals arrive, here 75 %); the eighth is a real death.
      let beating = true;
      const beats = Promise.all(
        [0, 1, 2, 3, 4, 5, 6].map((i) =>
          t.client.heartbeat((async function* () {
            yield { service: "herd", id: `i${i}` };
            while (beating) {
              await sleep(60);
              yield {};
            }
          })()),
        ),
      );
      try {
        await until("the dead instance expires", () => w.events.filter((e) => e.type === WatchEventType.REMOVED).length >= 1, 5000);
        await sleep(300);
      } finally {
        beating = false;
        await beats;
      }
      await w.stop();
      const removed = w.events.filter((e) => e.type === WatchEventType.REMOVED).map((e) => e.instance!.id).sort();
      assert.deepEqual(removed, ["i7"]);
      assert.equal((await t.client.getStatus({})).expiryProtection, false);
    });
  });
}

async function fetchMetrics(t: TestServer): Promise<Response> {
  // The HTTP/2 port serves /metrics too; fetch speaks HTTP/1.1, so ask over http2 directly.
  const http2 = await import("node:http2");
  const session = http2.connect(t.url);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": "/metrics" });
      let data = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (data += c));
      req.on("end", () => resolve(data));
      req.on("error", reject);
    });
    return new Response(body);
  } finally {
    session.close();
  }
}
