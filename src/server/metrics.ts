import { Counter, Gauge, Registry } from "prom-client";
import type { Store } from "../store/store.js";
import type { WatchHub, WatchHubMetrics } from "./watch-hub.js";

/** The node's Prometheus metrics, on a registry of its own (several nodes may share a process in tests). */
export class Metrics implements WatchHubMetrics {
  readonly registry = new Registry();
  readonly #changes = new Counter({ name: "roster_changes_total", help: "Changes by kind (registered, updated, deregistered, expired)", labelNames: ["kind"], registers: [this.registry] });
  readonly #beats = new Counter({ name: "roster_heartbeats_total", help: "Heartbeats received", registers: [this.registry] });
  readonly #events = new Counter({ name: "roster_watch_events_total", help: "Watch events queued to watchers", registers: [this.registry] });
  readonly #cutOff = new Counter({ name: "roster_watchers_cut_off_total", help: "Watchers ended with RESOURCE_EXHAUSTED for falling behind", registers: [this.registry] });

  /** Wires the gauges that read the store and the hub at scrape time; returns the function that stops counting changes. */
  attach(store: Store, hub: WatchHub): () => void {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers: [this.registry], collect() { this.set(read()); } });
    gauge("roster_instances", "Instances registered", () => store.status().instances);
    gauge("roster_leases", "Instances holding a lease", () => store.status().leases);
    gauge("roster_revision", "Last revision seen by this node", () => Number(store.status().revision));
    gauge("roster_watchers", "Open Watch streams on this node", () => hub.watchers);
    gauge("roster_expiry_protection", "1 while expiry is suspended (SEMANTICS 2.6)", () => (store.status().expiryProtection ? 1 : 0));
    gauge("roster_store_stale", "1 while the store is unreachable and reads are stale", () => (store.status().stale ? 1 : 0));
    return store.subscribe((c) => {
      this.#changes.inc({ kind: c.kind === "delete" ? c.cause : c.prev === undefined ? "registered" : "updated" });
    });
  }

  beat(): void {
    this.#beats.inc();
  }
  eventsQueued(n: number): void {
    this.#events.inc(n);
  }
  watcherCutOff(): void {
    this.#cutOff.inc();
  }
}
