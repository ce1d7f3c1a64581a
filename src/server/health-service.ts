import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import { notFound, toConnectError } from "../errors.js";

const known = new Set(["", RegistryService.typeName]);

/**
 * The standard gRPC health service (grpc.health.v1), so load balancers and
 * Kubernetes probes can check a node. A node reports SERVING until it starts
 * shutting down. Expiry protection and store outages do not make it
 * NOT_SERVING: the node still answers correctly; GetStatus and /healthz say why.
 */
export function registerHealthService(router: ConnectRouter, serving: () => boolean): void {
  const status = (service: string) => {
    if (!known.has(service)) throw toConnectError(notFound(`health of service "${service}"`));
    return serving() ? Serving.SERVING : Serving.NOT_SERVING;
  };
  router.service(Health, {
    check(req) {
      return create(HealthCheckResponseSchema, { status: status(req.service) });
    },
    async *watch(req, ctx) {
      let last: Serving | undefined;
      while (!ctx.signal.aborted) {
        const now = status(req.service);
        if (now !== last) yield create(HealthCheckResponseSchema, { status: (last = now) });
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  });
}
