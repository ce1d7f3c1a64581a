import { constants } from "node:os";
import { InstanceStatus } from "../../gen/roster/v1/registry_pb.js";
import { delay } from "../core/delay.js";
import type { Registrar, Registration } from "./registrar.js";

/** What to drain: a registrar (all its instances) or single registrations. */
export type DrainTarget = Registrar | Registration | readonly (Registrar | Registration)[];

/** Options of `drain` and `drainOnSignal`. */
export interface DrainOptions {
  /**
   * How long instances stay registered as STOPPING before they deregister,
   * in milliseconds; default 5000. Callers stop picking a STOPPING instance
   * as soon as their watch delivers the change, while requests already
   * routed here still find the instance serving.
   */
  readonly waitMs?: number;
  /** Ends the wait early, e.g. on a second signal. */
  readonly signal?: AbortSignal;
}

/**
 * Drains instances: reports STOPPING, waits, then deregisters them.
 *
 * @example
 * await drain(registrar, { waitMs: 3000 });
 * await server.close();
 */
export async function drain(target: DrainTarget, options: DrainOptions = {}): Promise<void> {
  const items = Array.isArray(target) ? target : [target as Registrar | Registration];
  const registrations = items.flatMap((t) => ("registrations" in t ? t.registrations : [t]));
  for (const r of registrations) r.setStatus(InstanceStatus.STOPPING);
  await delay(options.waitMs ?? 5000, options.signal);
  await Promise.all(items.map((t) => t.close()));
}

/** Options of `drainOnSignal`. */
export interface DrainOnSignalOptions extends Omit<DrainOptions, "signal"> {
  /** Signals that start the drain; default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /**
   * Runs after the drain (close servers here). Without it the process exits
   * as the signal would have (128 + its number), so installing the helper
   * does not change how the process ends.
   */
  readonly onDrained?: (signal: NodeJS.Signals) => void | Promise<void>;
}

/**
 * Opt-in: on SIGTERM or SIGINT, drains the target (STOPPING, wait,
 * deregister). A second signal during the wait cuts it short. Returns a
 * function that removes the handlers.
 *
 * @example
 * drainOnSignal(registrar, { waitMs: 5000, onDrained: () => server.close() });
 */
export function drainOnSignal(target: DrainTarget, options: DrainOnSignalOptions = {}): () => void {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const hurry = new AbortController();
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) return hurry.abort();
    draining = true;
    void (async () => {
      try {
        await drain(target, { ...options, signal: hurry.signal });
      } finally {
        remove();
        if (options.onDrained) await options.onDrained(signal);
        else process.exit(128 + (constants.signals[signal] ?? 0));
      }
    })();
  };
  const remove = () => {
    for (const s of signals) process.off(s, handler);
  };
  for (const s of signals) process.on(s, handler);
  return remove;
}
