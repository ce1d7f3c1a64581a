import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import { AggregatedDiscoveryService } from "../../../gen/envoy/service/discovery/v3/ads_pb.js";
import type { DiscoveryRequest, DiscoveryResponse } from "../../../gen/envoy/service/discovery/v3/discovery_pb.js";
import type { ServerConfig, Timing } from "../../config.js";
import { RosterError, toConnectError } from "../../errors.js";
import type { Store } from "../../store/store.js";
import type { Logger } from "../logger.js";
import { AdsStream } from "./ads-stream.js";
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
  /** The node's --auth. ADS does not check rights yet, so with auth on it refuses every stream rather than serve what auth would deny. */
  readonly auth: ServerConfig["auth"];
}

/**
 * Serves `envoy.service.discovery.v3.AggregatedDiscoveryService`
 * (StreamAggregatedResources, state of the world) on a Connect router, so any
 * gRPC client with xDS support (or Envoy) discovers Roster's services on the
 * main port. Delta xDS is not served (UNIMPLEMENTED): clients fall back to,
 * or default to, state of the world.
 *
 * @example
 * connectNodeAdapter({ routes: (router) => registerAdsService(router, { store, timing, log, registry, signal }) });
 */
export function registerAdsService(router: ConnectRouter, deps: AdsDeps): XdsHub {
  const hub = new XdsHub(deps.store, deps.timing);
  deps.signal.addEventListener("abort", () => hub.close(), { once: true });
  const metrics = xdsMetrics(deps.registry);
  router.service(AggregatedDiscoveryService, {
    streamAggregatedResources: (requests: AsyncIterable<DiscoveryRequest>, ctx: HandlerContext) => {
      if (deps.auth !== "off") throw toConnectError(new RosterError("unimplemented", "xDS is not served while --auth is on: ADS does not check rights yet"));
      return adsCall(hub, requests, ctx.signal, deps.log, metrics);
    },
  });
  return hub;
}

async function* adsCall(hub: XdsHub, requests: AsyncIterable<DiscoveryRequest>, signal: AbortSignal, log: Logger, metrics: XdsMetrics): AsyncGenerator<DiscoveryResponse> {
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
      for await (const r of requests) await stream.request(r);
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
      signal.throwIfAborted();
      if (ended) {
        if (failure !== undefined) throw toConnectError(failure);
        return;
      }
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    signal.removeEventListener("abort", poke);
    stream.close();
    metrics.clientDisconnected();
  }
}
