import { create } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import { AggregatedDiscoveryService } from "../../../gen/envoy/service/discovery/v3/ads_pb.js";
import type { DiscoveryRequest, DiscoveryResponse } from "../../../gen/envoy/service/discovery/v3/discovery_pb.js";
import { XdsStatusSchema, type XdsStatus } from "../../../gen/roster/v1/registry_pb.js";
import type { Timing } from "../../config.js";
import { DEFAULT_NAMESPACE } from "../../core/types.js";
import { toConnectError } from "../../errors.js";
import type { Store } from "../../store/store.js";
import type { ReadGate, ReadGrant } from "../auth/read-gate.js";
import { endCallKey } from "../call-context.js";
import type { Logger } from "../logger.js";
import { AdsStream, NAMESPACE_METADATA_KEY } from "./ads-stream.js";
import { isResourceType, parseResourceName } from "./resources.js";
import { XdsHub } from "./xds-hub.js";
import { xdsMetrics, type XdsMetrics } from "./xds-metrics.js";

/** What the xDS server needs from the node around it. */
export interface AdsDeps {
  readonly store: Store;
  readonly timing: Pick<Timing, "xdsPushDelayMs" | "xdsStartupHoldMs">;
  readonly log: Logger;
  /** The node's Prometheus registry, for the xDS metrics. */
  readonly registry: Registry;
  /** Aborts when the node shuts down: the hub then stops following the store. */
  readonly signal: AbortSignal;
  /** Admits each stream and says which services its principal may read (`NodeSecurity.readGate`; `openReadGate` with auth off). */
  readonly gate: ReadGate;
}

/**
 * Serves `envoy.service.discovery.v3.AggregatedDiscoveryService`
 * (StreamAggregatedResources, state of the world) on a Connect router, so any
 * gRPC client with xDS support (or Envoy) discovers Roster's services on the
 * main port. Delta xDS is not served (UNIMPLEMENTED): clients fall back to,
 * or default to, state of the world. With auth on, a stream is authenticated
 * like every RegistryService call (UNAUTHENTICATED without valid
 * credentials), sees only the services its principal may Resolve and Watch,
 * and ends with UNAUTHENTICATED when its credential expires.
 *
 * @example
 * connectNodeAdapter({ routes: (router) => registerAdsService(router, { store, timing, log, registry, signal, gate: openReadGate }) });
 */
export function registerAdsService(router: ConnectRouter, deps: AdsDeps): AdsService {
  const hub = new XdsHub(deps.store, deps.timing);
  deps.signal.addEventListener("abort", () => hub.close(), { once: true });
  const metrics = xdsMetrics(deps.registry);
  router.service(AggregatedDiscoveryService, {
    streamAggregatedResources: (requests: AsyncIterable<DiscoveryRequest>, ctx: HandlerContext) => adsCall(hub, deps.gate, requests, ctx, deps.log, metrics),
  });
  return {
    resync: () => hub.resync(),
    status: () => {
      const { clients, pushes, nacks } = metrics.totals();
      return create(XdsStatusSchema, { clients, services: hub.services, pushes: BigInt(pushes), nacks: BigInt(nacks), holding: hub.holding() });
    },
  };
}

/** The node's handle on its xDS server. */
export interface AdsService {
  /** The store reloaded lost state: re-read every followed service and hold back empty sets again (XdsHub.resync). */
  resync(): void;
  /** What the xDS server is doing, for GetStatus. */
  status(): XdsStatus;
}

/**
 * Drops from a request the names of services the grant may not read, so the
 * stream answers them exactly as it answers a service that does not exist
 * (absent from Listener and Cluster responses, never sent as a route or load
 * assignment): a refusal does not tell the client whether the service
 * exists. Names are mapped to services as the stream maps them, with the
 * namespace the client's node metadata last named.
 */
function readableOnly(grant: ReadGrant): (req: DiscoveryRequest) => DiscoveryRequest {
  let namespace = DEFAULT_NAMESPACE;
  return (req) => {
    const ns = req.node?.metadata?.[NAMESPACE_METADATA_KEY];
    if (typeof ns === "string" && ns !== "") namespace = ns;
    const type = req.typeUrl;
    if (!isResourceType(type)) return req;
    const names = req.resourceNames.filter((n) => {
      const ref = parseResourceName(n, type, namespace);
      return ref === undefined || grant.mayRead(ref.namespace, ref.service);
    });
    return names.length === req.resourceNames.length ? req : { ...req, resourceNames: names };
  };
}

async function* adsCall(hub: XdsHub, gate: ReadGate, requests: AsyncIterable<DiscoveryRequest>, ctx: HandlerContext, log: Logger, metrics: XdsMetrics): AsyncGenerator<DiscoveryResponse> {
  let grant: ReadGrant;
  try {
    grant = await gate("streamAggregatedResources");
  } catch (e) {
    throw toConnectError(e);
  }
  // A credential that expires ends the stream as it ends a Watch: UNAUTHENTICATED, and a reset if the client is not reading.
  const signal = AbortSignal.any([ctx.signal, grant.expired]);
  const endCall = (): void => ctx.values.get(endCallKey)(grant.expired.reason);
  grant.expired.addEventListener("abort", endCall, { once: true });
  const readable = readableOnly(grant);
  const queue: DiscoveryResponse[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const f = wake;
    wake = undefined;
    f?.();
  };
  const stream = new AdsStream(hub, (r) => (queue.push(r), poke()), log, metrics);
  let ended = false;
  let failure: unknown;
  // Requests are read on their own so pushes flow while the client says nothing, and handled one at a time, in order.
  void (async () => {
    try {
      for await (const r of requests) await stream.request(readable(r));
    } catch (e) {
      failure = e;
    } finally {
      ended = true;
      poke();
    }
  })();
  signal.addEventListener("abort", poke, { once: true });
  metrics.clientConnected();
  try {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (signal.aborted) throw toConnectError(signal.reason);
      if (ended) {
        if (failure !== undefined) throw toConnectError(failure);
        return;
      }
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    signal.removeEventListener("abort", poke);
    grant.expired.removeEventListener("abort", endCall);
    grant.close();
    stream.close();
    metrics.clientDisconnected();
  }
}
