import assert from "node:assert/strict";
import { resolveConfig, type Timing } from "../../config.js";
import type { Change } from "../../core/types.js";
import type { Store } from "../store.js";
import { spec, type StoreFactory } from "./instance-spec.js";
import { mochaGlobals } from "./mocha-globals.js";
import { sleep } from "./wait.js";

/**
 * Claims every Store keeps under faults (SEMANTICS 2.6): expiry protection
 * judged by the leases renewed within two beat intervals against all leases.
 * A mocha suite, like describeStoreContract.
 */
export function describeStoreFaultContract(name: string, factory: StoreFactory): void {
  const { describe, it, afterEach } = mochaGlobals();
  describe(`Store fault contract: ${name}`, function () {
    this.timeout(20000);
    let store: Store | undefined;
    afterEach(() => store?.close());

    async function open(timing: Partial<Timing>): Promise<{ store: Store; protections: boolean[]; seen: Change[] }> {
      const config = resolveConfig({ limits: { minTtlMs: 200 }, timing: { sweepIntervalMs: 50, ...timing } });
      const protections: boolean[] = [];
      store = await factory({ limits: config.limits, timing: config.timing, onProtection: (a) => protections.push(a) });
      const seen: Change[] = [];
      store.subscribe((c) => seen.push(c));
      return { store, protections, seen };
    }

    it("2.6 after a stall, survivors that keep beating end protection; the dead one expires one TTL later", async () => {
      const { store: s, protections, seen } = await open({ expiryProtectionThreshold: 0.5, expiryProtectionMinLeases: 4 });
      for (let i = 0; i < 6; i++) await s.register(spec({ id: `i${i}`, ttlMs: 600 }));
      const stallUntil = Date.now() + 800; // the node stalls: every lease is past due when it wakes
      while (Date.now() < stallUntil);
      let beating = true;
      const beats = (async () => {
        while (beating) {
          for (let i = 0; i < 5; i++) await s.heartbeat(spec({ id: `i${i}` }), {});
          await sleep(100); // more often than the TTL/3 clients must keep: timers slip on a loaded machine
        }
      })();
      try {
        await sleep(100);
        assert.equal(protections[0], true, "protection started after the stall");
        const deadline = Date.now() + 5000;
        while (!seen.some((c) => c.kind === "delete") && Date.now() < deadline) await sleep(20);
        const dead = seen.filter((c) => c.kind === "delete");
        assert.deepEqual(dead.map((c) => c.kind === "delete" && c.prev.id), ["i5"]);
        assert.equal(s.status().expiryProtection, false);
        assert.deepEqual(protections, [true, false]);
      } finally {
        beating = false;
        await beats;
      }
    });

    it("2.6 when most of the fleet really dies, protection holds it for at most expiry-protection-max-ms", async () => {
      const { store: s, protections, seen } = await open({ expiryProtectionThreshold: 0.5, expiryProtectionMinLeases: 4, expiryProtectionMaxMs: 1500 });
      for (let i = 0; i < 8; i++) await s.register(spec({ id: `i${i}`, ttlMs: 600 }));
      let beating = true;
      const beats = (async () => {
        while (beating) {
          await s.heartbeat(spec({ id: "i0" }), {});
          await sleep(100);
        }
      })();
      try {
        await sleep(1000);
        assert.equal(s.status().expiryProtection, true);
        assert.equal(seen.length, 8, "nothing expired yet");
        const deadline = Date.now() + 5000;
        while (seen.filter((c) => c.kind === "delete").length < 7 && Date.now() < deadline) await sleep(20);
        assert.equal(seen.filter((c) => c.kind === "delete").length, 7);
        assert.deepEqual(protections, [true, false]);
        assert.ok(await s.get(spec({ id: "i0" })));
      } finally {
        beating = false;
        await beats;
      }
    });
  });
}
