import { setMaxListeners } from "node:events";
import { isDeepStrictEqual } from "node:util";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ServerConfig } from "../../config.js";
import { checkId } from "../../core/health.js";
import { CheckStatus, instanceKeyString, type Change, type CheckSpec, type CheckState, type InstanceKey, type InstanceRecord } from "../../core/types.js";
import type { MemberView, Store } from "../../store/store.js";
import type { Logger } from "../logger.js";
import { CheckProtection } from "./check-protection.js";
import { CheckScheduler, type SchedulerClock } from "./check-scheduler.js";
import { GrpcHealthWatches, type GrpcHealthWatch, type GrpcTarget } from "./grpc-probe.js";
import { Hysteresis, type Verdict } from "./hysteresis.js";
import { grpcTarget, probeCheck, type ProbePolicy } from "./probe-check.js";
import type { ProbeResult } from "./probe-result.js";
import { owner } from "./rendezvous.js";

/** What the checker needs from the node. */
export interface HealthCheckerOptions {
  readonly store: Store;
  readonly config: ServerConfig;
  readonly log: Logger;
  /** The node's Prometheus registry. */
  readonly registry: Registry;
  /** Closes the checker when aborted (the node's shutdown). */
  readonly signal?: AbortSignal;
  /** The scheduler's clock (tests); default performance.now and real timers. */
  readonly clock?: SchedulerClock;
  /** Epoch milliseconds for check states; default Date.now. */
  readonly wallNow?: () => number;
  /** The phase of each check in [0, 1); default Math.random. */
  readonly random?: () => number;
}

/** What the checker says about itself (GetStatus, /healthz). */
export interface HealthCheckerStatus {
  /** Checks declared in the registry, as this node knows them. */
  readonly checks: number;
  /** Checks this node runs. */
  readonly owned: number;
  /** True while this node is a live member that may commit results. */
  readonly member: boolean;
  /** Nodes sharing the checks (1 on the memory store; 0 while this node is not a member): GetStatus's CheckerStatus.members. */
  readonly members: number;
  /** True while failures are not committed (check protection). */
  readonly protection: boolean;
  readonly probesInFlight: number;
  readonly probesWaiting: number;
}

/** A running checker. */
export interface HealthChecker {
  status(): HealthCheckerStatus;
  /** Rebuilds the index from the store (after the store's onResync: the change feed lost changes). */
  resync(): void;
  /** Stops probing; resolves when probes in flight have ended. */
  close(): Promise<void>;
}

/** One declared check as the checker tracks it. */
interface Tracked {
  readonly id: string;
  readonly key: InstanceKey;
  readonly spec: CheckSpec;
  /** The instance's host and port when tracking started: a change of either starts the check afresh. */
  readonly address: string;
  readonly hysteresis: Hysteresis;
  owned: boolean;
  grpcTarget?: GrpcTarget;
  grpc?: GrpcHealthWatch;
}

function verdictOf(status: CheckStatus | undefined): Verdict {
  return status === CheckStatus.PASSING ? true : status === CheckStatus.FAILING ? false : undefined;
}

/**
 * Starts the node's active health checker (SEMANTICS 6.2). It indexes every
 * check of every instance from the store (listAll, then the change feed),
 * runs the ones this node owns (rendezvous hashing of the check id over the
 * store's live members), and commits only flips, through
 * `store.setCheckState` fenced by the membership epoch it computed ownership
 * from; so each check runs once per interval across the registry and a node
 * that lost ownership cannot overwrite the new owner's results. A flip is an
 * ordinary change: a new revision, an UPDATED watch event, and the new
 * effective status for Resolve, picks and xDS.
 *
 * @example
 * const checker = startHealthChecker({ store, config, log, registry: metrics.registry, signal: shutdown.signal });
 * checker.status().owned;
 */
export function startHealthChecker(options: HealthCheckerOptions): HealthChecker {
  return new Checker(options);
}

class Checker implements HealthChecker {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #policy: ProbePolicy;
  readonly #wallNow: () => number;
  readonly #records = new Map<string, InstanceRecord>();
  readonly #checks = new Map<string, Tracked>();
  readonly #byInstance = new Map<string, Set<string>>();
  readonly #scheduler: CheckScheduler;
  readonly #protection: CheckProtection;
  readonly #grpc = new GrpcHealthWatches();
  readonly #stop = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;
  readonly #unwatchMembers: () => void;
  #view: MemberView | undefined;
  #owned = 0;
  #closed = false;
  readonly #metrics: {
    probeSeconds: Histogram<"kind">;
    failures: Counter<"kind">;
    flips: Counter<"to">;
    waits: Counter;
    overruns: Counter;
  };

  constructor(o: HealthCheckerOptions) {
    this.#store = o.store;
    this.#log = o.log;
    this.#wallNow = o.wallNow ?? Date.now;
    // Every probe in flight listens for the checker's close: up to max-concurrent-probes listeners is normal, not a leak.
    setMaxListeners(0, this.#stop.signal);
    const { limits, timing } = o.config;
    this.#policy = { anyPort: o.config.checkAnyPort === "true", outputBytes: limits.checkOutputBytes };
    const registers = [o.registry];
    this.#metrics = {
      probeSeconds: new Histogram({ name: "roster_check_probe_seconds", help: "Active check probe latency, by kind", labelNames: ["kind"], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
      failures: new Counter({ name: "roster_check_failures_total", help: "Active check probes that failed, by kind", labelNames: ["kind"], registers }),
      flips: new Counter({ name: "roster_check_flips_total", help: "Check status flips committed by this node, by new status", labelNames: ["to"], registers }),
      waits: new Counter({ name: "roster_check_probes_waited_total", help: "Due probes that waited for a slot (max-concurrent-probes)", registers }),
      overruns: new Counter({ name: "roster_check_probes_skipped_total", help: "Due probes skipped because the check's previous probe had not ended", registers }),
    };
    const gauge = (name: string, help: string, read: () => number) => new Gauge({ name, help, registers, collect() { this.set(read()); } });
    gauge("roster_checks_owned", "Active checks this node runs", () => this.#owned);
    gauge("roster_check_protection", "1 while check protection holds failures back", () => (this.#protection.active ? 1 : 0));
    this.#protection = new CheckProtection({
      threshold: timing.checkProtectionThreshold,
      minChecks: timing.checkProtectionMinChecks,
      maxMs: timing.checkProtectionMaxMs,
      onChange: (active, detail) => (active ? this.#log.warn({ event: "check_protection", active }, detail) : this.#log.info({ event: "check_protection", active }, detail)),
    });
    this.#scheduler = new CheckScheduler({
      maxConcurrent: limits.maxConcurrentProbes,
      run: (id) => this.#track(this.#run(id).catch((e: unknown) => this.#log.error({ event: "check_run", check: id, err: e }, "a check run failed"))),
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.random ? { random: o.random } : {}),
      onWait: () => this.#metrics.waits.inc(),
      onOverrun: () => this.#metrics.overruns.inc(),
    });
    this.#view = this.#store.members.view();
    this.#unwatchMembers = this.#store.members.onChange((view) => {
      this.#view = view;
      for (const t of this.#checks.values()) this.#reown(t);
    });
    this.#unsubscribe = this.#store.subscribe((c) => this.#apply(c));
    this.resync();
    if (o.signal !== undefined) {
      if (o.signal.aborted) void this.close();
      else o.signal.addEventListener("abort", () => void this.close(), { once: true });
    }
  }

  status(): HealthCheckerStatus {
    return {
      checks: this.#checks.size,
      owned: this.#owned,
      member: this.#view !== undefined,
      members: this.#view?.nodes.length ?? 0,
      protection: this.#protection.active,
      probesInFlight: this.#scheduler.inFlight,
      probesWaiting: this.#scheduler.waiting,
    };
  }

  resync(): void {
    void this.#store.listAll().then(
      (snap) => {
        if (this.#closed) return;
        const seen = new Set<string>();
        for (const r of snap.instances) {
          const k = instanceKeyString(r);
          seen.add(k);
          const known = this.#records.get(k);
          if (known === undefined || known.modRevision < r.modRevision) this.#index(r);
        }
        // Gone from the snapshot and not re-created since it was taken: deleted while the feed could not say so.
        for (const [k, r] of this.#records) if (!seen.has(k) && r.modRevision <= snap.revision) this.#forget(k);
      },
      (e: unknown) => this.#log.warn({ event: "check_index", err: e }, "could not list instances for the health checker; checks resume with the next change"),
    );
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#stop.abort();
      this.#scheduler.close();
      this.#unsubscribe();
      this.#unwatchMembers();
      this.#grpc.close();
    }
    await Promise.all([...this.#inFlight]);
  }

  #track(p: Promise<void>): Promise<void> {
    this.#inFlight.add(p);
    return p.finally(() => this.#inFlight.delete(p));
  }

  #apply(c: Change): void {
    if (this.#closed) return;
    // Most instances declare no check: their changes cost the checker nothing (only records with checks are indexed).
    if (c.kind === "delete") {
      if (c.prev.checks.length > 0) this.#forget(instanceKeyString(c.prev));
    } else if (c.instance.checks.length > 0 || (c.prev !== undefined && c.prev.checks.length > 0)) {
      this.#index(c.instance);
    }
  }

  /** Takes a record into the index: starts, keeps or stops tracking each of its checks; a record without checks leaves it. */
  #index(r: InstanceRecord): void {
    const k = instanceKeyString(r);
    if (r.checks.length === 0) {
      if (this.#records.has(k)) this.#forget(k);
      return;
    }
    this.#records.set(k, r);
    const ids = this.#byInstance.get(k) ?? new Set<string>();
    const address = `${r.host}:${r.port}`;
    const now = new Set<string>();
    for (const spec of r.checks) {
      const id = checkId(r, spec.name);
      now.add(id);
      const stored = verdictOf(r.health.find((h) => h.name === spec.name)?.status);
      const t = this.#checks.get(id);
      if (t !== undefined && t.address === address && isDeepStrictEqual(t.spec, spec)) {
        t.hysteresis.settle(stored);
        continue;
      }
      if (t !== undefined) this.#untrack(t);
      const fresh: Tracked = { id, key: { namespace: r.namespace, service: r.service, id: r.id }, spec, address, hysteresis: new Hysteresis(spec, stored), owned: false };
      this.#checks.set(id, fresh);
      this.#reown(fresh);
    }
    for (const id of ids) {
      const t = this.#checks.get(id);
      if (!now.has(id) && t !== undefined) this.#untrack(t);
    }
    if (now.size > 0) this.#byInstance.set(k, now);
    else this.#byInstance.delete(k);
  }

  #forget(k: string): void {
    this.#records.delete(k);
    for (const id of this.#byInstance.get(k) ?? []) {
      const t = this.#checks.get(id);
      if (t !== undefined) this.#untrack(t);
    }
    this.#byInstance.delete(k);
  }

  #untrack(t: Tracked): void {
    this.#disown(t);
    if (this.#checks.get(t.id) === t) this.#checks.delete(t.id);
  }

  /** Starts or stops running `t` as ownership says. */
  #reown(t: Tracked): void {
    const mine = this.#view !== undefined && owner(t.id, this.#view.nodes) === this.#store.members.self;
    if (mine === t.owned) return;
    if (!mine) return this.#disown(t);
    t.owned = true;
    this.#owned++;
    const record = this.#records.get(instanceKeyString(t.key));
    const target = record !== undefined ? grpcTarget(record, t.spec, this.#policy) : undefined;
    if (target !== undefined) {
      t.grpcTarget = target;
      t.grpc = this.#grpc.acquire(target, { pingIntervalMs: t.spec.intervalMs, pingTimeoutMs: t.spec.timeoutMs });
    }
    this.#scheduler.add(t.id, { intervalMs: t.spec.intervalMs, initialDelayMs: record !== undefined ? this.#delayLeft(record, t.spec) : 0 });
  }

  /**
   * What is left of a check's initial delay. It runs from when the check was
   * declared (its PENDING state's `since`) and ends with the first verdict: a
   * check that moved here from another node, or whose instance changed
   * address, is not held back again.
   */
  #delayLeft(record: InstanceRecord, spec: CheckSpec): number {
    const state = record.health.find((h) => h.name === spec.name);
    if (state === undefined || state.status !== CheckStatus.PENDING) return 0;
    return Math.max(0, state.since + spec.initialDelayMs - this.#wallNow());
  }

  #disown(t: Tracked): void {
    if (!t.owned) return;
    t.owned = false;
    this.#owned--;
    this.#scheduler.remove(t.id);
    this.#protection.forget(t.id);
    if (t.grpcTarget !== undefined) this.#grpc.release(t.grpcTarget);
    delete t.grpcTarget;
    delete t.grpc;
  }

  async #run(id: string): Promise<void> {
    const t = this.#checks.get(id);
    const record = t !== undefined ? this.#records.get(instanceKeyString(t.key)) : undefined;
    if (t === undefined || record === undefined || !t.owned || this.#closed) return;
    const started = performance.now();
    const result = await probeCheck(record, t.spec, this.#policy, t.grpc, this.#stop.signal);
    this.#metrics.probeSeconds.observe({ kind: t.spec.kind }, (performance.now() - started) / 1000);
    // The check changed or moved to another node while the probe ran: its result is for a check that no longer exists here.
    if (this.#closed || this.#checks.get(id) !== t || !t.owned) return;
    if (!result.passed) this.#metrics.failures.inc({ kind: t.spec.kind });
    this.#protection.record(id, result.passed);
    const flip = t.hysteresis.observe(result.passed);
    try {
      if (flip === true || (flip === false && !this.#protection.active)) await this.#commit(t, flip, result);
      else if (flip === undefined && !result.passed && t.spec.deregisterAfterMs > 0 && !this.#protection.active) await this.#deregisterAfter(t);
    } catch (e) {
      // A store that is unreachable refuses the commit; the next agreeing result proposes it again.
      this.#log.warn({ event: "check_commit", check: id, err: e }, "could not commit a check result");
    }
  }

  /** Commits a flip; retries once after a conflict if the check is still this node's and still needs it. */
  async #commit(t: Tracked, passed: boolean, result: ProbeResult): Promise<void> {
    const status = passed ? CheckStatus.PASSING : CheckStatus.FAILING;
    let record = this.#records.get(instanceKeyString(t.key));
    for (let attempt = 0; attempt < 2 && record !== undefined; attempt++) {
      const view = this.#view;
      if (view === undefined || owner(t.id, view.nodes) !== this.#store.members.self) return;
      const prev = record.health.find((h) => h.name === t.spec.name);
      if (prev === undefined) return;
      if (prev.status === status) return t.hysteresis.settle(passed);
      const now = this.#wallNow();
      const next: CheckState = { name: t.spec.name, status, output: result.output, checkedAt: now, since: now };
      const outcome = await this.#store.setCheckState(t.key, record.health, next, { node: this.#store.members.self, epoch: view.epoch });
      switch (outcome) {
        case "committed":
        case "unchanged":
          t.hysteresis.settle(passed);
          if (outcome === "committed") {
            this.#metrics.flips.inc({ to: passed ? "passing" : "failing" });
            // A new check's first PASSING changes no status: only flips to or from FAILING are worth a line by default.
            const level = prev.status === CheckStatus.PENDING && passed ? "debug" : "info";
            this.#log[level]({ event: "check_flip", check: t.id, status: passed ? "passing" : "failing", output: result.output }, `check ${passed ? "passing" : "failing"}`);
          }
          return;
        case "conflict":
          record = await this.#store.get(t.key);
          continue;
        case "fenced":
          this.#log.debug({ event: "check_fenced", check: t.id, epoch: view.epoch.toString() }, "check result refused: this node no longer owns the check at that membership epoch");
          return;
        case "gone":
          return;
      }
    }
  }

  /** Removes the instance once `t` has been FAILING (committed) for its deregister-after. */
  async #deregisterAfter(t: Tracked): Promise<void> {
    const record = this.#records.get(instanceKeyString(t.key));
    const state = record?.health.find((h) => h.name === t.spec.name);
    const view = this.#view;
    if (record === undefined || state?.status !== CheckStatus.FAILING || view === undefined) return;
    if (this.#wallNow() - state.since < t.spec.deregisterAfterMs) return;
    const outcome = await this.#store.removeFailedCheck(t.key, record.health, { node: this.#store.members.self, epoch: view.epoch });
    if (typeof outcome !== "string") {
      this.#log.info({ event: "check_deregistered", check: t.id, failingSince: state.since, output: state.output }, `removed: check ${t.spec.name} failing for longer than its deregister-after`);
    }
  }
}
