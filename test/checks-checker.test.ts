import { strict as assert } from "node:assert";
import { pino } from "pino";
import { Registry } from "prom-client";
import { resolveConfig } from "../src/config.js";
import { CheckStatus, InstanceStatus, type CheckSpec } from "../src/core/types.js";
import { startHealthChecker, type HealthChecker } from "../src/server/checks/health-checker.js";
import { owner } from "../src/server/checks/rendezvous.js";
import { spec } from "../src/store/contract/instance-spec.js";
import { MemoryStore } from "../src/store/memory-store.js";
import type { CheckMembers, MemberView, Store } from "../src/store/store.js";
import { startHttpTarget, type HttpTarget } from "./helpers/check-targets.js";
import { until } from "./helpers/server.js";

const config = resolveConfig({ limits: { minCheckIntervalMs: 100 } });
const log = pino({ level: "silent" });

function check(path: string, over: Partial<CheckSpec> = {}): CheckSpec {
  return {
    name: "http", kind: "http", port: 0, intervalMs: 100, timeoutMs: 80, failuresBeforeUnhealthy: 2, successesBeforeHealthy: 1, initialDelayMs: 0, deregisterAfterMs: 0,
    http: { path, tls: false, tlsSkipVerify: false, expectedStatuses: [], headers: {} },
    ...over,
  };
}

/** Membership of simulated nodes sharing one memory store: the test changes it; each node's view of it is fenced like the Redis store's. */
class Cluster {
  view: MemberView;
  /** Commits refused by the fence. */
  fenced = 0;
  readonly #listeners = new Set<(v: MemberView | undefined) => void>();
  constructor(readonly store: MemoryStore, nodes: string[]) {
    this.view = { nodes, epoch: 1n };
  }
  set(nodes: string[]): void {
    this.view = { nodes, epoch: this.view.epoch + 1n };
    for (const l of this.#listeners) l(this.view);
  }
  /** The store as node `self` sees it; a `frozen` node keeps believing the view it started with (a paused or partitioned node). */
  node(self: string, frozen = false): Store {
    const cluster = this;
    const first = this.view;
    const members: CheckMembers = {
      self,
      view: () => (frozen ? first : cluster.view.nodes.includes(self) ? cluster.view : undefined),
      onChange: (l) => {
        if (frozen) return () => {};
        const f = (v: MemberView | undefined) => l(v?.nodes.includes(self) ? v : undefined);
        cluster.#listeners.add(f);
        return () => cluster.#listeners.delete(f);
      },
    };
    const memory = cluster.store;
    const own = { node: memory.members.self, epoch: 1n };
    const fenced = (f: { node: string; epoch: bigint }) => {
      const refused = f.node !== self || f.epoch !== cluster.view.epoch || !cluster.view.nodes.includes(self);
      if (refused) cluster.fenced++;
      return refused;
    };
    return Object.assign(Object.create(memory) as Store, {
      members,
      subscribe: memory.subscribe.bind(memory),
      listAll: memory.listAll.bind(memory),
      get: memory.get.bind(memory),
      setCheckState: (k: Parameters<Store["setCheckState"]>[0], e: Parameters<Store["setCheckState"]>[1], n: Parameters<Store["setCheckState"]>[2], f: Parameters<Store["setCheckState"]>[3]) => (fenced(f) ? Promise.resolve("fenced" as const) : memory.setCheckState(k, e, n, own)),
      removeFailedCheck: (k: Parameters<Store["removeFailedCheck"]>[0], e: Parameters<Store["removeFailedCheck"]>[1], f: Parameters<Store["removeFailedCheck"]>[2]) => (fenced(f) ? Promise.resolve("fenced" as const) : memory.removeFailedCheck(k, e, own)),
    });
  }
}

describe("checks: the checker, ownership and protection (SEMANTICS 6.2)", function () {
  this.timeout(20_000);
  let target: HttpTarget;
  let memory: MemoryStore;
  const checkers: HealthChecker[] = [];
  const start = (store: Store, c = config) => {
    const checker = startHealthChecker({ store, config: c, log, registry: new Registry() });
    checkers.push(checker);
    return checker;
  };
  beforeEach(async () => {
    target = await startHttpTarget();
    memory = new MemoryStore({ limits: config.limits, timing: config.timing });
  });
  afterEach(async () => {
    await Promise.all(checkers.splice(0).map((c) => c.close()));
    await memory.close();
    await target.close();
  });

  it("6.2 with several nodes each check is probed by exactly one of them, the one rendezvous hashing names", async () => {
    const cluster = new Cluster(memory, ["a", "b", "c"]);
    const [a, b, c] = ["a", "b", "c"].map((n) => start(cluster.node(n)));
    const n = 30;
    for (let i = 0; i < n; i++) await memory.register(spec({ service: "web", id: `i-${i}`, host: "127.0.0.1", port: target.port, checks: [check(`/i-${i}`)] }));
    await until("every check probed", () => target.paths.size === n);
    assert.equal(a!.status().owned + b!.status().owned + c!.status().owned, n);
    for (const [node, checker] of [["a", a], ["b", b], ["c", c]] as const) {
      const expected = Array.from({ length: n }, (_, i) => `default/web/i-${i}#http`).filter((id) => owner(id, ["a", "b", "c"]) === node).length;
      assert.equal(checker!.status().owned, expected, `node ${node}`);
    }
    const before = new Map(target.paths);
    await new Promise((r) => setTimeout(r, 1_000));
    for (const [path, count] of target.paths) {
      const d = count - (before.get(path) ?? 0);
      // Ten intervals of 100 ms: once per interval from one node is about 10; from two nodes it would be about 20.
      assert.ok(d >= 6 && d <= 13, `${path} probed ${d} times in 10 intervals`);
    }
  });

  it("6.2 when a node leaves the membership its checks move to the others and run within one interval (an initial delay is not served again)", async () => {
    const cluster = new Cluster(memory, ["a", "b"]);
    const a = start(cluster.node("a"));
    const b = start(cluster.node("b"));
    const n = 20;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await memory.register(spec({ service: "web", id: `i-${i}`, host: "127.0.0.1", port: target.port, checks: [check(`/i-${i}`, { initialDelayMs: 500 })] }));
    await until("both nodes run checks", () => a.status().owned > 0 && b.status().owned > 0 && target.paths.size === n);
    assert.ok(performance.now() - t0 >= 450, "the first probes waited for the initial delay");
    await until("every check PASSING", async () => (await memory.list("default", "web")).instances.every((i) => i.health[0]?.status === CheckStatus.PASSING));
    cluster.set(["a"]);
    assert.equal(a.status().owned, n);
    assert.equal(b.status().owned, 0);
    assert.equal(b.status().member, false);
    assert.equal(b.status().members, 0);
    assert.equal(a.status().members, 1);
    const moved = new Map(target.paths);
    const t1 = performance.now();
    await until("every check probed again after the move", () => [...target.paths].every(([p, c]) => c > (moved.get(p) ?? 0)), 1_000);
    assert.ok(performance.now() - t1 < 250, "within about one 100 ms interval");
  });

  it("6.2 a node that still believes an old membership (paused, partitioned) probes, but every commit it tries is fenced", async () => {
    const noProtection = resolveConfig({ limits: { minCheckIntervalMs: 100 }, timing: { checkProtectionThreshold: 1 } });
    const cluster = new Cluster(memory, ["a", "b"]);
    const stale = start(cluster.node("b", true), noProtection);
    cluster.set(["a"]);
    const a = start(cluster.node("a"), noProtection);
    const n = 20;
    const changes: string[] = [];
    memory.subscribe((c) => c.kind === "put" && c.prev !== undefined && changes.push(`${c.instance.id}:${c.instance.status}`));
    target.mode = "fail";
    for (let i = 0; i < n; i++) await memory.register(spec({ service: "web", id: `i-${i}`, host: "127.0.0.1", port: target.port, checks: [check(`/i-${i}`)] }));
    assert.ok(stale.status().owned > 0, "the stale node still runs its old share");
    assert.equal(a.status().owned, n);
    await until("all UNHEALTHY", async () => (await memory.list("default", "web")).instances.every((i) => i.status === InstanceStatus.UNHEALTHY));
    await until("the stale node tried to commit", () => cluster.fenced > 0);
    // a's flips only: PENDING -> FAILING once per instance, nothing from b.
    assert.equal(changes.length, n, changes.join(" "));
  });

  it("6.2 when more than the protection share of a node's checks fail at once, none is marked UNHEALTHY; the node says so, and recoveries still commit", async () => {
    const c = resolveConfig({ limits: { minCheckIntervalMs: 100 }, timing: { checkProtectionThreshold: 0.5, checkProtectionMinChecks: 10 } });
    const checker = start(memory, c);
    const healthy = await startHttpTarget();
    try {
      for (let i = 0; i < 12; i++) await memory.register(spec({ service: "web", id: `i-${i}`, host: "127.0.0.1", port: i < 8 ? target.port : healthy.port, checks: [check(`/i-${i}`)] }));
      await until("all PASSING", async () => (await memory.list("default", "web")).instances.every((i) => i.health[0]?.status === CheckStatus.PASSING));
      target.mode = "fail";
      await until("protection", () => checker.status().protection);
      const probes = target.hits;
      await until("several failing rounds", () => target.hits >= probes + 8 * 4);
      assert.ok((await memory.list("default", "web")).instances.every((i) => i.status === InstanceStatus.HEALTHY), "8 of 12 failing at once is the node's fault, not theirs");
      target.mode = "ok";
      await until("protection ends", () => !checker.status().protection);
      // Fewer than half failing is believed: those go UNHEALTHY.
      healthy.mode = "fail";
      await until("4 of 12 UNHEALTHY", async () => (await memory.list("default", "web")).instances.filter((i) => i.status === InstanceStatus.UNHEALTHY).length === 4);
      assert.equal(checker.status().protection, false);
    } finally {
      await healthy.close();
    }
  });

  it("6.2 a mass failure that outlasts check-protection-max-ms is committed: every failing instance goes UNHEALTHY", async () => {
    const c = resolveConfig({ limits: { minCheckIntervalMs: 100 }, timing: { checkProtectionThreshold: 0.5, checkProtectionMinChecks: 10, checkProtectionMaxMs: 1_000 } });
    const checker = start(memory, c);
    for (let i = 0; i < 12; i++) await memory.register(spec({ service: "web", id: `i-${i}`, host: "127.0.0.1", port: target.port, checks: [check(`/i-${i}`)] }));
    await until("all PASSING", async () => (await memory.list("default", "web")).instances.every((i) => i.health[0]?.status === CheckStatus.PASSING));
    target.mode = "fail";
    await until("protection", () => checker.status().protection);
    const heldAt = performance.now();
    const unhealthy = async () => (await memory.list("default", "web")).instances.filter((i) => i.status === InstanceStatus.UNHEALTHY).length;
    await until("all 12 UNHEALTHY", async () => (await unhealthy()) === 12, 5_000);
    assert.ok(performance.now() - heldAt >= 900, "not before the hold lapsed");
    assert.equal(checker.status().protection, false);
  });

  it("6.2 a probe only goes to the instance's own port unless check-any-port is on", async () => {
    const other = await startHttpTarget();
    try {
      // As if registered through a node started with check-any-port: this node is not.
      await memory.register(spec({ service: "web", id: "x", host: "127.0.0.1", port: target.port, checks: [check("/x", { port: other.port })] }));
      start(memory);
      await until("FAILING", async () => (await memory.list("default", "web")).instances[0]?.status === InstanceStatus.UNHEALTHY);
      assert.equal(other.hits, 0);
      assert.match((await memory.list("default", "web")).instances[0]!.health[0]!.output, /check-any-port is off/);
    } finally {
      await other.close();
    }
  });
});
