import assert from "node:assert/strict";
import { resolveConfig, type Limits, type Timing } from "../../config.js";
import { RosterError } from "../../errors.js";
import { InstanceStatus, type Change } from "../../core/types.js";
import type { Store } from "../store.js";
import { spec, type StoreFactory } from "./instance-spec.js";
import { mochaGlobals } from "./mocha-globals.js";
import { sleep, until } from "./wait.js";

function assertRosterError(kind: RosterError["kind"]) {
  return (e: unknown) => e instanceof RosterError && e.kind === kind;
}

/**
 * The contract every Store keeps, as a mocha suite: a store is done when it
 * passes this suite unchanged. `factory` must return an empty store. Call it
 * from a test file that mocha runs.
 *
 * @example
 * import { describeStoreContract } from "roster/store/contract";
 * describeStoreContract("mine", async (options) => new MyStore(options));
 */
export function describeStoreContract(name: string, factory: StoreFactory): void {
  const { describe, it, afterEach } = mochaGlobals();
  describe(`Store contract: ${name}`, function () {
    this.timeout(15000);
    let store: Store;
    const protections: boolean[] = [];

    async function open(limits: Partial<Limits> = {}, timing: Partial<Timing> = {}): Promise<Store> {
      const config = resolveConfig({ limits, timing: { sweepIntervalMs: 50, ...timing } });
      store = await factory({ limits: config.limits, timing: config.timing, onProtection: (a) => protections.push(a) });
      return store;
    }
    function record(): Change[] {
      const seen: Change[] = [];
      store.subscribe((c) => seen.push(c));
      return seen;
    }

    afterEach(async () => {
      protections.length = 0;
      await store?.close();
    });

    it("gives every change the next revision (3.1)", async () => {
      await open();
      const seen = record();
      const base = store.status().revision;
      const a = await store.register(spec({ id: "a" }));
      const b = await store.register(spec({ id: "b" }));
      const d = await store.deregister({ namespace: "default", service: "echo", id: "a" });
      assert.equal(a.revision, base + 1n);
      assert.equal(b.revision, base + 2n);
      assert.equal(d.revision, base + 3n);
      await until("three changes delivered", () => seen.length === 3);
      assert.deepEqual(seen.map((c) => c.revision), [base + 1n, base + 2n, base + 3n]);
      assert.equal(store.status().revision, base + 3n);
    });

    it("register is an upsert that keeps the create revision (1.3, 3.2)", async () => {
      await open();
      const first = await store.register(spec({ port: 1 }));
      assert.equal(first.created, true);
      assert.equal(first.instance.createRevision, first.instance.modRevision);
      const second = await store.register(spec({ port: 2 }));
      assert.equal(second.created, false);
      assert.equal(second.instance.createRevision, first.instance.createRevision);
      assert.equal(second.instance.modRevision, first.revision + 1n);
      assert.equal(second.instance.port, 2);
      const snap = await store.list("default", "echo");
      assert.equal(snap.instances.length, 1);
    });

    it("a register that changes nothing makes no revision (1.3)", async () => {
      await open();
      const first = await store.register(spec());
      const again = await store.register(spec());
      assert.equal(again.revision, first.revision);
      assert.equal(again.instance.modRevision, first.instance.modRevision);
    });

    it("deregister removes at once with cause deregistered, and NOT_FOUND for unknown (2.3)", async () => {
      await open();
      await store.register(spec());
      const seen = record();
      const change = await store.deregister({ namespace: "default", service: "echo", id: "i-1" });
      assert.equal(change.kind, "delete");
      assert.equal(change.kind === "delete" && change.cause, "deregistered");
      assert.equal((await store.list("default", "echo")).instances.length, 0);
      await until("delete delivered", () => seen.length === 1);
      await assert.rejects(store.deregister({ namespace: "default", service: "echo", id: "i-1" }), assertRosterError("not_found"));
    });

    it("heartbeat for an unknown instance is not_found (2.4)", async () => {
      await open();
      await assert.rejects(store.heartbeat({ namespace: "default", service: "echo", id: "nope" }, {}), assertRosterError("not_found"));
    });

    describe("owners (issue 13: an instance remembers the principal that registered it)", () => {
      const key = { namespace: "default", service: "echo", id: "i-1" };
      const a = { principal: "spiffe://t/ns/default/svc/echo-a", admin: false };
      const b = { principal: "spiffe://t/ns/default/svc/echo-b", admin: false };
      const admin = { principal: "ops", admin: true };

      it("a first register sets the owner; the owner's own writes work and keep it", async () => {
        await open();
        const first = await store.register(spec(), a);
        assert.equal(first.instance.owner, a.principal);
        await store.heartbeat(key, { status: InstanceStatus.UNHEALTHY, load: 3 }, a);
        await store.heartbeat(key, { load: 4 }, a);
        const again = await store.register(spec({ port: 2 }), a);
        assert.equal(again.instance.owner, a.principal);
        assert.equal((await store.get(key))?.owner, a.principal);
        await store.deregister(key, a);
        assert.equal(await store.get(key), undefined);
      });

      it("another principal's heartbeat, deregister and re-register are permission_denied and change nothing", async () => {
        await open();
        const first = await store.register(spec(), a);
        const denied = (e: unknown) => e instanceof RosterError && e.kind === "permission_denied" && e.message.includes("default/echo/i-1 belongs to another principal");
        await assert.rejects(store.heartbeat(key, { status: InstanceStatus.STOPPING }, b), denied);
        await assert.rejects(store.heartbeat(key, {}, b), denied);
        await assert.rejects(store.deregister(key, b), denied);
        await assert.rejects(store.register(spec({ port: 9 }), b), denied);
        await assert.rejects(store.register(spec(), b), denied);
        const now = await store.get(key);
        assert.equal(now?.port, 8080);
        assert.equal(now?.owner, a.principal);
        assert.equal(now?.reportedStatus, InstanceStatus.HEALTHY);
        assert.equal(store.status().revision, first.revision);
      });

      it("an admin may re-register, heartbeat and deregister another principal's instance; the owner stays", async () => {
        await open();
        await store.register(spec(), a);
        const re = await store.register(spec({ port: 2 }), admin);
        assert.equal(re.instance.owner, a.principal);
        await store.heartbeat(key, {}, admin);
        await store.deregister(key, admin);
        assert.equal(await store.get(key), undefined);
      });

      it("without a caller (auth off) there is no owner and no check", async () => {
        await open();
        const first = await store.register(spec());
        assert.equal(first.instance.owner, "");
        await store.heartbeat(key, {}, b);
        const re = await store.register(spec({ port: 2 }), b);
        assert.equal(re.instance.owner, "");
        await store.register(spec({ id: "i-2" }), a);
        await store.heartbeat({ ...key, id: "i-2" }, {});
        await store.deregister({ ...key, id: "i-2" });
        await store.deregister(key, b);
      });
    });

    it("a status change on a heartbeat is a change; load alone is not (6.1)", async () => {
      await open();
      const r = await store.register(spec({ ttlMs: 5000 }));
      const seen = record();
      await store.heartbeat(spec(), { load: 7 });
      assert.equal(store.status().revision, r.revision);
      assert.equal((await store.get(spec()))?.load, 7);
      await store.heartbeat(spec(), { status: InstanceStatus.STOPPING });
      await until("status change delivered", () => seen.length === 1);
      assert.equal(seen[0]!.kind === "put" && seen[0]!.instance.status, InstanceStatus.STOPPING);
      assert.equal(seen[0]!.revision, r.revision + 1n);
    });

    it("lists one service, a namespace, and counts by status", async () => {
      await open();
      await store.register(spec({ id: "a" }));
      await store.register(spec({ id: "b", status: InstanceStatus.UNHEALTHY }));
      await store.register(spec({ id: "c", service: "other" }));
      await store.register(spec({ id: "d", namespace: "prod" }));
      assert.equal((await store.list("default", "echo")).instances.length, 2);
      assert.equal((await store.list("default")).instances.length, 3);
      assert.equal((await store.list("prod")).instances.length, 1);
      assert.equal((await store.list("nowhere", "echo")).instances.length, 0);
      const services = await store.listServices("default");
      assert.deepEqual(services.services.map((s) => [s.name, s.total, s.counts.healthy, s.counts.unhealthy]), [
        ["echo", 2, 1, 1],
        ["other", 1, 1, 0],
      ]);
    });

    it("changesSince returns every later change in order, or compacted (4.2)", async () => {
      await open({}, { historySize: 5 });
      const base = store.status().revision;
      for (let i = 0; i < 8; i++) await store.register(spec({ id: `i${i}` }));
      const recent = await store.changesSince(base + 5n);
      assert.ok(recent !== "compacted");
      assert.deepEqual(recent.map((c) => c.revision), [base + 6n, base + 7n, base + 8n]);
      assert.equal(await store.changesSince(base + 1n), "compacted");
      assert.deepEqual(await store.changesSince(base + 8n), []);
    });

    it("an instance without heartbeats expires within TTL + 1 s with cause expired (2.1)", async () => {
      await open({ minTtlMs: 200 });
      const seen = record();
      const t0 = Date.now();
      await store.register(spec({ ttlMs: 500 }));
      await until("expiry", () => seen.some((c) => c.kind === "delete"), 3000);
      const elapsed = Date.now() - t0;
      const del = seen.find((c) => c.kind === "delete")!;
      assert.equal(del.kind === "delete" && del.cause, "expired");
      assert.ok(elapsed >= 450 && elapsed <= 1500, `expired after ${elapsed} ms`);
      assert.equal(seen.filter((c) => c.kind === "delete").length, 1);
    });

    it("heartbeats keep a lease alive (2.1)", async () => {
      await open({ minTtlMs: 200 });
      await store.register(spec({ ttlMs: 400 }));
      for (let i = 0; i < 8; i++) {
        await sleep(100);
        await store.heartbeat(spec(), {});
      }
      assert.ok(await store.get(spec()), "instance should still be there");
      assert.equal(store.status().leases, 1);
    });

    it("an instance without TTL has no lease and stays (2.5)", async () => {
      await open({ minTtlMs: 200 });
      await store.register(spec({ ttlMs: 0 }));
      await sleep(600);
      assert.ok(await store.get(spec()));
      assert.equal(store.status().leases, 0);
    });

    it("a shorter TTL on re-register takes effect at once", async () => {
      await open({ minTtlMs: 200 });
      await store.register(spec({ ttlMs: 60_000 }));
      await store.register(spec({ ttlMs: 300 }));
      await until("expiry under the new TTL", async () => (await store.get(spec())) === undefined, 2000);
    });

    it("refuses an instance over max-instances-per-service with resource_exhausted", async () => {
      await open({ maxInstancesPerService: 2 });
      await store.register(spec({ id: "a" }));
      await store.register(spec({ id: "b" }));
      await assert.rejects(store.register(spec({ id: "c" })), assertRosterError("resource_exhausted"));
      await store.register(spec({ id: "a", port: 9 }));
      await store.register(spec({ id: "c", service: "other" }));
    });

    it("suspends expiry when most leases lapse at once, and resumes when heartbeats return (2.6)", async () => {
      await open({ minTtlMs: 200 }, { expiryProtectionThreshold: 0.5, expiryProtectionMinLeases: 4, expiryProtectionWindowMs: 2000 });
      const seen = record();
      for (let i = 0; i < 6; i++) await store.register(spec({ id: `i${i}`, ttlMs: 300 }));
      // The node stalls (a long pause): when it wakes every lease is past due at once.
      const stallUntil = Date.now() + 500;
      while (Date.now() < stallUntil);
      await until("protection", () => store.status().expiryProtection, 3000);
      await sleep(200);
      assert.equal(seen.filter((c) => c.kind === "delete").length, 0, "nothing may expire while protected");
      assert.equal((await store.list("default", "echo")).instances.length, 6);
      // Heartbeats return for five of six, more often than the TTL/3 clients must keep (timers slip on a loaded
      // machine): the one left is a real death and expires.
      const beat = () => Promise.all([0, 1, 2, 3, 4].map((i) => store.heartbeat(spec({ id: `i${i}` }), {})));
      await beat();
      const beater = setInterval(() => void beat().catch(() => {}), 50);
      try {
        await until("the dead instance expires", () => seen.some((c) => c.kind === "delete"), 5000);
        await sleep(200);
      } finally {
        clearInterval(beater);
      }
      assert.equal(store.status().expiryProtection, false);
      assert.deepEqual(protections.slice(0, 2), [true, false]);
      const dead = seen.filter((c) => c.kind === "delete");
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.kind === "delete" && dead[0]!.prev.id, "i5");
    });

    it("expires a minority of leases normally (2.6)", async () => {
      await open({ minTtlMs: 200 }, { expiryProtectionThreshold: 0.5, expiryProtectionMinLeases: 4 });
      const seen = record();
      for (let i = 0; i < 6; i++) await store.register(spec({ id: `i${i}`, ttlMs: i < 2 ? 300 : 60_000 }));
      await until("two expiries", () => seen.filter((c) => c.kind === "delete").length === 2, 3000);
      assert.equal(store.status().expiryProtection, false);
    });
  });
}
