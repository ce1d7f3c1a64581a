import { strict as assert } from "node:assert";
import { resolveConfig } from "../../src/config.js";
import { CheckStatus, InstanceStatus, type Change, type CheckSpec, type InstanceSpec } from "../../src/core/types.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { RosterError } from "../../src/errors.js";

const config = resolveConfig({ limits: { maxChecks: 3 } });
const check = (name: string): CheckSpec => ({ name, kind: "tcp", port: 0, intervalMs: 1000, timeoutMs: 1000, failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2, initialDelayMs: 0, deregisterAfterMs: 0 });
const spec = (id: string, checks: CheckSpec[], status = InstanceStatus.HEALTHY): InstanceSpec => ({ namespace: "default", service: "s", id, host: "h", port: 1, tags: [], metadata: {}, status, weight: 1, zone: "", ttlMs: 0, checks });

describe("Check commits on the memory store (SEMANTICS 6.2, 6.3)", () => {
  let store: MemoryStore;
  let changes: Change[];
  beforeEach(() => {
    store = new MemoryStore({ limits: config.limits, timing: config.timing });
    changes = [];
    store.subscribe((c) => changes.push(c));
  });
  afterEach(() => store.close());
  const fence = () => ({ node: store.members.self, epoch: store.members.view()!.epoch });

  it("6.2 a committed flip is one change with a new revision, and the status follows 6.3", async () => {
    const { instance } = await store.register(spec("a", [check("tcp")]));
    assert.equal(instance.health[0]!.status, CheckStatus.PENDING);
    const next = { name: "tcp", status: CheckStatus.FAILING, output: "connect ECONNREFUSED", checkedAt: 10, since: 10 };
    assert.equal(await store.setCheckState(instance, instance.health, next, fence()), "committed");
    assert.equal(changes.length, 2);
    const put = changes[1]!;
    assert.ok(put.kind === "put" && put.prev !== undefined);
    assert.equal(put.instance.status, InstanceStatus.UNHEALTHY);
    assert.equal(put.instance.reportedStatus, InstanceStatus.HEALTHY);
    assert.deepEqual(put.instance.health, [next]);
    assert.equal(await store.setCheckState(instance, put.instance.health, next, fence()), "unchanged");
    assert.equal(changes.length, 2);
  });

  it("6.3 a heartbeat reporting STOPPING wins over a failing check, and HEALTHY does not clear it", async () => {
    const { instance } = await store.register(spec("a", [check("tcp")]));
    await store.setCheckState(instance, instance.health, { name: "tcp", status: CheckStatus.FAILING, output: "", checkedAt: 1, since: 1 }, fence());
    await store.heartbeat(instance, { status: InstanceStatus.STOPPING });
    assert.equal((await store.get(instance))!.status, InstanceStatus.STOPPING);
    await store.heartbeat(instance, { status: InstanceStatus.HEALTHY });
    assert.equal((await store.get(instance))!.status, InstanceStatus.UNHEALTHY);
  });

  it("6.2 refuses a commit on stale health (conflict), from another node or epoch (fenced), for an unknown check (gone)", async () => {
    const { instance } = await store.register(spec("a", [check("tcp")]));
    const next = { name: "tcp", status: CheckStatus.PASSING, output: "", checkedAt: 1, since: 1 };
    assert.equal(await store.setCheckState(instance, instance.health, next, { node: "other", epoch: 1n }), "fenced");
    assert.equal(await store.setCheckState(instance, instance.health, next, { ...fence(), epoch: 2n }), "fenced");
    assert.equal(await store.setCheckState(instance, instance.health, { ...next, name: "nope" }, fence()), "gone");
    assert.equal(await store.setCheckState(instance, instance.health, next, fence()), "committed");
    assert.equal(await store.setCheckState(instance, instance.health, { ...next, status: CheckStatus.FAILING }, fence()), "conflict");
  });

  it("6.2 deregister-after removes the instance once, with cause check_failed", async () => {
    const { instance } = await store.register(spec("a", [check("tcp")]));
    const removed = await store.removeFailedCheck(instance, instance.health, fence());
    assert.ok(typeof removed === "object" && removed.kind === "delete" && removed.cause === "check_failed");
    assert.equal(await store.removeFailedCheck(instance, instance.health, fence()), "gone");
  });

  it("6.2 refuses a Register past max-checks (a registry total) with RESOURCE_EXHAUSTED, and counts removals", async () => {
    await store.register(spec("a", [check("x"), check("y")]));
    await assert.rejects(store.register(spec("b", [check("x"), check("y")])), (e: unknown) => e instanceof RosterError && e.kind === "resource_exhausted" && /max-checks/.test(e.message));
    await store.register(spec("b", [check("x")]));
    await store.deregister({ namespace: "default", service: "s", id: "a" });
    await store.register(spec("c", [check("x"), check("y")]));
  });
});
