import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { NodeSchema } from "../../gen/envoy/config/core/v3/base_pb.js";
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from "../../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { AggregatedDiscoveryService } from "../../gen/envoy/service/discovery/v3/ads_pb.js";
import { DiscoveryRequestSchema, type DiscoveryRequest, type DiscoveryResponse } from "../../gen/envoy/service/discovery/v3/discovery_pb.js";

/** A raw StreamAggregatedResources client: send requests by hand, read responses with a deadline. */
export interface RawAdsClient {
  send(req: MessageInitShape<typeof DiscoveryRequestSchema>): void;
  /** The next response, or an error after `ms`. */
  next(ms?: number): Promise<DiscoveryResponse>;
  /** Resolves true when no response arrives within `ms` (and leaves any that does for `next`). */
  quiet(ms: number): Promise<boolean>;
  /** Every response received so far, oldest first. */
  readonly received: DiscoveryResponse[];
  close(): void;
}

/** Opens a raw ADS stream to a Roster node (node id `raw`, with the given locality zone and node metadata). */
export function rawAdsClient(url: string, node: { zone?: string; metadata?: Record<string, string> } = {}, transport: Transport = createGrpcTransport({ baseUrl: url })): RawAdsClient {
  const client = createClient(AggregatedDiscoveryService, transport);
  const abort = new AbortController();
  const outbox: DiscoveryRequest[] = [];
  let wakeOut: (() => void) | undefined;
  let first = true;
  async function* requests(): AsyncGenerator<DiscoveryRequest> {
    for (;;) {
      while (outbox.length > 0) yield outbox.shift()!;
      if (abort.signal.aborted) return;
      await new Promise<void>((r) => (wakeOut = r));
    }
  }
  const received: DiscoveryResponse[] = [];
  let read = 0;
  let wakeIn: (() => void) | undefined;
  let failure: unknown;
  void (async () => {
    try {
      for await (const r of client.streamAggregatedResources(requests(), { signal: abort.signal })) {
        received.push(r);
        wakeIn?.();
      }
    } catch (e) {
      failure = e;
      wakeIn?.();
    }
  })();
  const waitFor = async (ms: number) => {
    const end = Date.now() + ms;
    while (read >= received.length && failure === undefined && Date.now() < end) {
      await new Promise<void>((r) => {
        wakeIn = r;
        setTimeout(r, Math.max(1, end - Date.now()));
      });
    }
  };
  return {
    received,
    send(req) {
      const full = create(DiscoveryRequestSchema, req);
      if (first) full.node = create(NodeSchema, { id: "raw", locality: { zone: node.zone ?? "" }, metadata: node.metadata ?? {} });
      first = false;
      outbox.push(full);
      const f = wakeOut;
      wakeOut = undefined;
      f?.();
    },
    async next(ms = 3000) {
      await waitFor(ms);
      if (read < received.length) return received[read++]!;
      throw failure ?? new Error(`no ADS response within ${ms} ms`);
    },
    async quiet(ms) {
      await waitFor(ms);
      return read >= received.length;
    },
    close() {
      abort.abort();
      wakeOut?.();
    },
  };
}

/** The load assignments of a response. */
export function assignments(r: DiscoveryResponse): ClusterLoadAssignment[] {
  return r.resources.map((a) => {
    const m = anyUnpack(a, ClusterLoadAssignmentSchema);
    if (m === undefined) throw new Error(`not a ClusterLoadAssignment: ${a.typeUrl}`);
    return m;
  });
}

/** `host:port` of every endpoint of an assignment, sorted. */
export function endpointAddresses(cla: ClusterLoadAssignment): string[] {
  return cla.endpoints
    .flatMap((l) => l.lbEndpoints)
    .map((e) => {
      const a = e.hostIdentifier.case === "endpoint" ? e.hostIdentifier.value.address?.address : undefined;
      return a?.case === "socketAddress" ? `${a.value.address}:${a.value.portSpecifier.case === "portValue" ? a.value.portSpecifier.value : "?"}` : "?";
    })
    .sort();
}
