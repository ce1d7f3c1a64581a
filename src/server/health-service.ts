import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import { notFound, toConnectError } from "../errors.js";

/** What the node's health is made of. */
export interface NodeHealthSource {
  /** True while the store cannot take writes (a Redis node that lost Redis). */
  stale(): boolean;
  /** The full names of the services the node serves. */
  services(): ReadonlySet<string>;
}

/**
 * The health of a node as grpc.health.v1 reports it, per service name:
 * - `""` (the node as a whole): SERVING until it starts shutting down, then
 *   NOT_SERVING. A stale node still answers reads and watches from its last
 *   view, so it is not taken for dead.
 * - `roster.v1.RegistryService`: also NOT_SERVING while the store is stale,
 *   because Register, Deregister and heartbeats are refused then: a client
 *   or balancer that checks it sends writes to another node.
 * - every other service the node serves: as `""`.
 * Expiry protection does not change it: the node serves correctly then, and
 * taking it out of rotation would make a partition worse; GetStatus,
 * /healthz, the log and the `roster_expiry_protection` metric say it.
 */
export class NodeHealth {
  #shuttingDown = false;
  readonly #listeners = new Set<() => void>();

  constructor(readonly source: NodeHealthSource) {}

  /** The status of `service`, or undefined for a service the node does not serve. */
  status(service: string): Serving.SERVING | Serving.NOT_SERVING | undefined {
    if (service !== "" && !this.source.services().has(service)) return undefined;
    if (this.#shuttingDown) return Serving.NOT_SERVING;
    if (service === RegistryService.typeName && this.source.stale()) return Serving.NOT_SERVING;
    return Serving.SERVING;
  }

  /** Tells watchers that something their status depends on may have changed. */
  changed(): void {
    for (const l of this.#listeners) l();
  }

  /** From now on every service is NOT_SERVING; watchers are told at once. */
  shutdown(): void {
    this.#shuttingDown = true;
    this.changed();
  }

  /** Calls `listener` on every change until the returned function is called. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * The standard gRPC health service (grpc.health.v1) for load balancers and
 * Kubernetes probes, per its spec: Check answers NOT_FOUND for a service the
 * node does not serve; Watch sends SERVICE_UNKNOWN for it and stays open,
 * sends each change as it happens, and at shutdown sends NOT_SERVING before
 * the stream ends (with UNAVAILABLE, like every stream at shutdown).
 */
export function registerHealthService(router: ConnectRouter, health: NodeHealth): void {
  router.service(Health, {
    check(req) {
      const status = health.status(req.service);
      if (status === undefined) throw toConnectError(notFound(`health of service "${req.service}"`));
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, ctx) {
      let wake: (() => void) | undefined;
      // A change while the last status is being written must not be missed.
      let pending = false;
      const fire = () => {
        pending = true;
        wake?.();
      };
      const off = health.onChange(fire);
      ctx.signal.addEventListener("abort", fire, { once: true });
      try {
        let last: Serving | undefined;
        for (;;) {
          pending = false;
          const now = health.status(req.service) ?? Serving.SERVICE_UNKNOWN;
          if (now !== last) yield create(HealthCheckResponseSchema, { status: (last = now) });
          if (ctx.signal.aborted) throw toConnectError(ctx.signal.reason);
          if (!pending) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        off();
        ctx.signal.removeEventListener("abort", fire);
      }
    },
  });
}
