import assert from "node:assert/strict";
import { resolveConfig, type Limits } from "../../config.js";
import { RosterError } from "../../errors.js";
import { CheckStatus, InstanceStatus, type Change, type CheckSpec, type CheckState, type InstanceRecord } from "../../core/types.js";
import type { CheckFence, Store } from "../store.js";
import { spec, type StoreFactory } from "./instance-spec.js";
import { mochaGlobals } from "./mocha-globals.js";
import { until } from "./wait.js";

/** An HTTP check with short test timings, overridden by `over`. */
export function httpCheck(name: string, over: Partial<CheckSpec> = {}): CheckSpec {
  return {
    name,
    kind: "http",
    port: 0,
    intervalMs: 1000,
    timeoutMs: 500,
    failuresBeforeUnhealthy: 2,
    successesBeforeHealthy: 2,
    initialDelayMs: 0,
    deregisterAfterMs: 0,
    http: { path: "/healthz", tls: false, tlsSkipVerify: false, expectedStatuses: [], headers: {} },
    ...over,
  };
}

/**
 * The active-check part of the Store contract (SEMANTICS 6.2, issue 14): a
 * committed flip is an ordinary change, the effective status follows one
 * rule, and a commit is a compare-and-set on the instance's health fenced by
 * the membership epoch. A mocha suite, like describeStoreContract.
 */
export function describeChecksContract(name: string, factory: StoreFactory): void {
  const { describe, it, afterEach } = mochaGlobals();
  describe(`Store checks contract: ${name}`, function () {
    this.timeout(15000);
    let store: Store | undefined;
    afterEach(() => store?.close());

    async function open(limits: Partial<Limits> = {}): Promise<Store> {
      const config = resolveConfig({ limits, timing: { sweepIntervalMs: 50 } });
      store = await factory({ limits: config.limits, timing: config.timing });
      return store;
    }
    function fence(s: Store): CheckFence {
      const view = s.members.view();
      assert.ok(view, "the node is a member");
      return { node: s.members.self, epoch: view.epoch };
    }
    function result(name: string, status: CheckStatus, at = Date.now()): CheckState {
      return { name, status, output: status === CheckStatus.FAILING ? "HTTP 503: down" : "HTTP 200: ok", checkedAt: at, since: at };
    }
    function record(s: Store): Change[] {
      const seen: Change[] = [];
      s.subscribe((c) => seen.push(c));
      return seen;
    }
    async function current(s: Store, id = "i-1"): Promise<InstanceRecord> {
      const r = await s.get(spec({ id }));
      assert.ok(r, `instance ${id} exists`);
      return r;
    }
    /** Commits `next` on the instance's current health, as an owner that just read it. */
    async function commit(s: Store, next: CheckState, id = "i-1"): Promise<InstanceRecord> {
      assert.equal(await s.setCheckState(spec({ id }), (await current(s, id)).health, next, fence(s)), "committed");
      return current(s, id);
    }

    it("6.2 the node is a live member of its own view, and listAll returns every namespace", async () => {
      const s = await open();
      assert.ok(s.members.view()?.nodes.includes(s.members.self));
      await s.register(spec({ id: "a" }));
      await s.register(spec({ id: "b", namespace: "prod", service: "other" }));
      const all = await s.listAll();
      assert.deepEqual(all.instances.map((r) => `${r.namespace}/${r.service}/${r.id}`).sort(), ["default/echo/a", "prod/other/b"]);
      assert.equal(all.revision, s.status().revision);
    });

    it("6.3 checks start PENDING, in declaration order, and do not change the reported status", async () => {
      const s = await open();
      const r = await s.register(spec({ checks: [httpCheck("b"), httpCheck("a")], status: InstanceStatus.STARTING }));
      assert.deepEqual(r.instance.health.map((h) => [h.name, h.status]), [["b", CheckStatus.PENDING], ["a", CheckStatus.PENDING]]);
      assert.equal(r.instance.status, InstanceStatus.STARTING);
      assert.equal(r.instance.reportedStatus, InstanceStatus.STARTING);
      assert.deepEqual((await current(s)).checks.map((c) => c.name), ["b", "a"]);
    });

    it("6.2 a committed flip is one new revision and one UPDATED change with the record before it", async () => {
      const s = await open();
      const r = await s.register(spec({ checks: [httpCheck("http")] }));
      const seen = record(s);
      const failing = result("http", CheckStatus.FAILING);
      assert.equal(await s.setCheckState(spec(), r.instance.health, failing, fence(s)), "committed");
      await until("the change delivered", () => seen.length === 1);
      const c = seen[0]!;
      assert.equal(c.kind, "put");
      assert.equal(c.revision, r.revision + 1n);
      assert.ok(c.kind === "put" && c.prev !== undefined);
      assert.equal(c.prev.status, InstanceStatus.HEALTHY);
      assert.equal(c.instance.status, InstanceStatus.UNHEALTHY);
      assert.deepEqual(c.instance.health, [failing]);
      assert.equal(c.instance.modRevision, c.revision);
      assert.equal(s.status().revision, r.revision + 1n);
      assert.deepEqual((await current(s)).health, [failing]);
    });

    it("6.2 a check commit keeps the instance's owner (issue 13)", async () => {
      const s = await open();
      const owner = { principal: "spiffe://t/ns/default/svc/echo", admin: false };
      const r = await s.register(spec({ checks: [httpCheck("http")] }), owner);
      assert.equal(await s.setCheckState(spec(), r.instance.health, result("http", CheckStatus.FAILING), fence(s)), "committed");
      assert.equal((await current(s)).owner, owner.principal);
      await assert.rejects(s.deregister(spec(), { principal: "other", admin: false }), (e) => e instanceof Error && e.message.includes("belongs to another principal"));
    });

    it("6.2 committing the state a check already has is unchanged: no revision", async () => {
      const s = await open();
      const r = await s.register(spec({ checks: [httpCheck("http")] }));
      const after = await commit(s, result("http", CheckStatus.PASSING));
      assert.equal(await s.setCheckState(spec(), after.health, after.health[0]!, fence(s)), "unchanged");
      assert.equal(s.status().revision, r.revision + 1n);
    });

    it("6.3 a failing check wins over a self-reported HEALTHY; the instance's own STOPPING wins over any check; PASSING never raises a status", async () => {
      const s = await open();
      await s.register(spec({ ttlMs: 60_000, checks: [httpCheck("a"), httpCheck("b")] }));
      let r = await commit(s, result("a", CheckStatus.FAILING));
      assert.equal(r.status, InstanceStatus.UNHEALTHY);
      assert.equal(r.reportedStatus, InstanceStatus.HEALTHY);
      r = await commit(s, result("b", CheckStatus.PASSING));
      assert.equal(r.status, InstanceStatus.UNHEALTHY, "one failing check is enough");
      await s.heartbeat(spec(), { status: InstanceStatus.STOPPING });
      await until("STOPPING applied", async () => (await current(s)).reportedStatus === InstanceStatus.STOPPING);
      assert.equal((await current(s)).status, InstanceStatus.STOPPING);
      await s.heartbeat(spec(), { status: InstanceStatus.HEALTHY });
      await until("HEALTHY reported", async () => (await current(s)).reportedStatus === InstanceStatus.HEALTHY);
      assert.equal((await current(s)).status, InstanceStatus.UNHEALTHY);
      r = await commit(s, result("a", CheckStatus.PASSING));
      assert.equal(r.status, InstanceStatus.HEALTHY);
      await s.register(spec({ id: "starting", status: InstanceStatus.STARTING, checks: [httpCheck("a")] }));
      r = await commit(s, result("a", CheckStatus.PASSING), "starting");
      assert.equal(r.status, InstanceStatus.STARTING);
      const counts = (await s.listServices("default")).services[0]!.counts;
      assert.deepEqual([counts.healthy, counts.starting, counts.unhealthy], [1, 1, 0]);
    });

    it("6.2 a commit on health that changed since it was read is a conflict and changes nothing", async () => {
      const s = await open();
      const r = await s.register(spec({ checks: [httpCheck("a"), httpCheck("b")] }));
      await commit(s, result("a", CheckStatus.FAILING));
      const revision = s.status().revision;
      assert.equal(await s.setCheckState(spec(), r.instance.health, result("b", CheckStatus.FAILING), fence(s)), "conflict");
      assert.equal(s.status().revision, revision);
      assert.equal((await current(s)).health[1]!.status, CheckStatus.PENDING);
    });

    it("6.2 a commit from a node that is not a live member, or under an old membership epoch, is fenced", async () => {
      const s = await open();
      const r = await s.register(spec({ checks: [httpCheck("http")] }));
      const f = fence(s);
      const next = result("http", CheckStatus.FAILING);
      assert.equal(await s.setCheckState(spec(), r.instance.health, next, { node: `${f.node}-gone`, epoch: f.epoch }), "fenced");
      assert.equal(await s.setCheckState(spec(), r.instance.health, next, { node: f.node, epoch: f.epoch - 1n }), "fenced");
      assert.equal(await s.removeFailedCheck(spec(), r.instance.health, { node: f.node, epoch: f.epoch + 1n }), "fenced");
      assert.equal(s.status().revision, r.revision);
      assert.equal((await current(s)).status, InstanceStatus.HEALTHY);
    });

    it("6.2 a commit for an unknown instance or an undeclared check is gone", async () => {
      const s = await open();
      const r = await s.register(spec({ checks: [httpCheck("http")] }));
      assert.equal(await s.setCheckState(spec({ id: "nope" }), r.instance.health, result("http", CheckStatus.FAILING), fence(s)), "gone");
      assert.equal(await s.setCheckState(spec(), r.instance.health, result("tcp", CheckStatus.FAILING), fence(s)), "gone");
      assert.equal(await s.removeFailedCheck(spec({ id: "nope" }), r.instance.health, fence(s)), "gone");
      assert.equal(s.status().revision, r.revision);
    });

    it("6.2 deregister-after: removeFailedCheck removes the instance once, with cause check_failed", async () => {
      const s = await open();
      await s.register(spec({ ttlMs: 60_000, checks: [httpCheck("http", { deregisterAfterMs: 1000 })] }));
      const failing = await commit(s, result("http", CheckStatus.FAILING));
      const seen = record(s);
      const removed = await s.removeFailedCheck(spec(), failing.health, fence(s));
      assert.ok(typeof removed !== "string", `removed, not ${String(removed)}`);
      assert.equal(removed.kind, "delete");
      assert.ok(removed.kind === "delete");
      assert.equal(removed.cause, "check_failed");
      assert.equal(removed.prev.status, InstanceStatus.UNHEALTHY);
      await until("the removal delivered", () => seen.length === 1);
      assert.deepEqual(seen, [removed]);
      assert.equal(await s.get(spec()), undefined);
      assert.equal(s.status().leases, 0);
      assert.equal(await s.removeFailedCheck(spec(), failing.health, fence(s)), "gone");
      assert.equal(seen.length, 1);
    });

    it("6.2 re-register with the same checks keeps their state; dropping a check drops its state", async () => {
      const s = await open();
      const checks = [httpCheck("a"), httpCheck("b")];
      await s.register(spec({ checks }));
      await commit(s, result("a", CheckStatus.FAILING));
      const kept = await commit(s, result("b", CheckStatus.PASSING));
      const moved = await s.register(spec({ checks, port: 9 }));
      assert.equal(moved.instance.modRevision, moved.revision, "a re-register that changes the spec is a change");
      assert.deepEqual(moved.instance.health, kept.health);
      assert.equal(moved.instance.status, InstanceStatus.UNHEALTHY);
      const dropped = await s.register(spec({ checks: [checks[1]!], port: 9 }));
      assert.deepEqual(dropped.instance.health, [kept.health[1]]);
      assert.equal(dropped.instance.status, InstanceStatus.HEALTHY);
      const back = await s.register(spec({ checks, port: 9 }));
      assert.deepEqual(back.instance.health.map((h) => h.status), [CheckStatus.PENDING, CheckStatus.PASSING]);
      // An owner still holding the health from before the re-register must re-read.
      assert.equal(await s.setCheckState(spec(), kept.health, result("b", CheckStatus.FAILING), fence(s)), "conflict");
    });

    it("6.2 a re-register that states the same checks (headers in another order) changes nothing and keeps their state", async () => {
      const s = await open();
      const headers = (h: Record<string, string>) => httpCheck("http", { http: { path: "/", tls: false, tlsSkipVerify: false, expectedStatuses: [200, 204], headers: h } });
      await s.register(spec({ checks: [headers({ a: "1", b: "2" })] }));
      const failing = await commit(s, result("http", CheckStatus.FAILING));
      const again = await s.register(spec({ checks: [headers({ b: "2", a: "1" })] }));
      assert.equal(again.revision, failing.modRevision);
      assert.deepEqual(again.instance.health, failing.health);
      assert.equal(again.instance.status, InstanceStatus.UNHEALTHY);
    });

    it("6.2 max-checks counts the checks of every instance: a register past it is resource_exhausted", async () => {
      const s = await open({ maxChecks: 3 });
      await s.register(spec({ id: "a", checks: [httpCheck("x"), httpCheck("y")] }));
      await assert.rejects(s.register(spec({ id: "b", checks: [httpCheck("x"), httpCheck("y")] })), (e) => e instanceof RosterError && e.kind === "resource_exhausted");
      await s.register(spec({ id: "b", checks: [httpCheck("x")] }));
      await assert.rejects(s.register(spec({ id: "b", checks: [httpCheck("x"), httpCheck("y")] })), (e) => e instanceof RosterError && e.kind === "resource_exhausted");
      await s.register(spec({ id: "a", checks: [httpCheck("x")] }));
      await s.register(spec({ id: "b", checks: [httpCheck("x"), httpCheck("y")] }));
      await s.deregister(spec({ id: "b" }));
      await s.register(spec({ id: "c", checks: [httpCheck("x"), httpCheck("y")] }));
    });
  });
}
