import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { DiscoveryResponseSchema, type DiscoveryRequest, type DiscoveryResponse } from "../../../gen/envoy/service/discovery/v3/discovery_pb.js";
import { DEFAULT_NAMESPACE } from "../../core/types.js";
import type { Logger } from "../logger.js";
import { clusterFor, isFullSetType, isResourceType, listenerFor, loadAssignmentFor, parseResourceName, routeFor, serviceKey, typeLabel, TypeUrl, type ResourceType, type ServiceRef } from "./resources.js";
import type { PublishedService, ServiceListener, XdsHub } from "./xds-hub.js";
import type { XdsMetrics } from "./xds-metrics.js";

/** The node metadata key a client sets to pick its Roster namespace (default `default`); `xdsBootstrap` writes it. */
export const NAMESPACE_METADATA_KEY = "roster.namespace";

interface TypeState {
  /** The names the client subscribes to, as it spelt them. */
  readonly names: Set<string>;
  /** The service behind each subscribed name that can be one. */
  readonly refs: Map<string, ServiceRef>;
  /** What the client was last sent for each name (see `contentKey`). */
  readonly sent: Map<string, string>;
  /** version_info of the last response; counts up per type. */
  version: number;
  /** Nonce of the last response, "" before the first. */
  nonce: string;
}

// Load assignments depend on the client's zone only: build each once per published state and zone, for every client.
const assignments = new WeakMap<PublishedService, Map<string, Any>>();

function assignmentFor(p: PublishedService, zone: string): Any | undefined {
  if (p.serving === undefined || !p.exists) return undefined;
  let byZone = assignments.get(p);
  if (byZone === undefined) assignments.set(p, (byZone = new Map()));
  let a = byZone.get(zone);
  if (a === undefined) byZone.set(zone, (a = loadAssignmentFor(p.ref, p.serving, zone)));
  return a;
}

/** What a client holds for a resource: responses go out only when this changes (or the client asks again). */
function contentKey(type: ResourceType, p: PublishedService | undefined): string {
  if (p === undefined || !p.exists) return "absent";
  if (type !== TypeUrl.endpoints) return "present";
  return p.serving === undefined ? "withheld" : `v${p.version}`;
}

/**
 * The state-of-the-world protocol of one StreamAggregatedResources stream.
 *
 * - Versions and nonces are per type; both only grow. A request whose nonce
 *   is not the last one sent for its type is stale and ignored: a newer
 *   response is on its way and the client will answer that one.
 * - A NACK (error_detail set) is logged and counted; nothing is re-sent, so
 *   the client keeps its last good config until the resource changes.
 * - A request with no nonce, or one that adds names, is answered at once with
 *   whatever exists now (no waiting for every name); a name subscribed again
 *   is sent again even when unchanged.
 * - Listener and Cluster responses carry the whole subscribed set; a name
 *   missing from them is a service with no instance, which clients read as
 *   "does not exist". Route and load-assignment responses carry the
 *   subscribed resources that exist.
 */
export class AdsStream implements ServiceListener {
  readonly #types = new Map<ResourceType, TypeState>();
  /** How many subscribed names (over every type) follow each service. */
  readonly #follows = new Map<string, number>();
  #nonce = 0;
  #namespace = DEFAULT_NAMESPACE;
  #zone = "";
  #nodeId = "";
  #closed = false;

  constructor(
    readonly hub: XdsHub,
    readonly send: (response: DiscoveryResponse) => void,
    readonly log: Logger,
    readonly metrics: XdsMetrics,
  ) {}

  /** Handles one request; requests of a stream are handled one at a time, in order. */
  async request(req: DiscoveryRequest): Promise<void> {
    if (req.node !== undefined) {
      this.#nodeId = req.node.id;
      this.#zone = req.node.locality?.zone ?? "";
      const ns = req.node.metadata?.[NAMESPACE_METADATA_KEY];
      if (typeof ns === "string" && ns !== "") this.#namespace = ns;
    }
    if (!isResourceType(req.typeUrl)) {
      this.log.debug({ event: "xds_unknown_type", typeUrl: req.typeUrl, node: this.#nodeId }, "ignored a request for a type Roster does not serve");
      return;
    }
    const type = req.typeUrl;
    const t = this.#state(type);
    if (req.responseNonce !== "" && req.responseNonce !== t.nonce) return;
    if (req.errorDetail !== undefined && req.responseNonce !== "") {
      this.metrics.nacked(typeLabel[type]);
      this.log.warn(
        { event: "xds_nack", type: typeLabel[type], version: req.versionInfo, nonce: req.responseNonce, node: this.#nodeId, detail: req.errorDetail.message },
        "an xDS client rejected a response; it keeps its last good config",
      );
    }
    const names = new Set(req.resourceNames);
    const added = [...names].filter((n) => !t.names.has(n));
    const removed = [...t.names].filter((n) => !names.has(n));
    for (const n of removed) {
      t.names.delete(n);
      t.sent.delete(n);
      const ref = t.refs.get(n);
      t.refs.delete(n);
      if (ref !== undefined) this.#unfollow(serviceKey(ref));
    }
    for (const n of added) {
      t.names.add(n);
      const ref = parseResourceName(n, type, this.#namespace);
      if (ref === undefined) continue;
      t.refs.set(n, ref);
      await this.#follow(ref);
      if (this.#closed) return;
    }
    // A subscribed-again name is sent again: forget what the client was sent for it.
    for (const n of added) t.sent.delete(n);
    if (req.responseNonce === "" || added.length > 0 || (removed.length > 0 && isFullSetType(type))) this.#push(type);
  }

  /** From the hub: these services changed; push every type whose resources differ from what the client holds. */
  servicesChanged(keys: ReadonlySet<string>): void {
    if (this.#closed) return;
    for (const [type, t] of this.#types) {
      if (t.nonce === "") continue;
      for (const [name, ref] of t.refs) {
        const key = serviceKey(ref);
        if (keys.has(key) && t.sent.get(name) !== contentKey(type, this.hub.published(key))) {
          this.#push(type);
          break;
        }
      }
    }
  }

  /** Releases every service the stream follows. */
  close(): void {
    this.#closed = true;
    for (const key of this.#follows.keys()) this.hub.release(key, this);
    this.#follows.clear();
  }

  #state(type: ResourceType): TypeState {
    let t = this.#types.get(type);
    if (t === undefined) this.#types.set(type, (t = { names: new Set(), refs: new Map(), sent: new Map(), version: 0, nonce: "" }));
    return t;
  }

  async #follow(ref: ServiceRef): Promise<void> {
    const key = serviceKey(ref);
    const n = this.#follows.get(key) ?? 0;
    this.#follows.set(key, n + 1);
    if (n === 0) await this.hub.acquire(ref, this);
  }

  #unfollow(key: string): void {
    const n = (this.#follows.get(key) ?? 1) - 1;
    if (n > 0) this.#follows.set(key, n);
    else {
      this.#follows.delete(key);
      this.hub.release(key, this);
    }
  }

  /** Sends the type's subscribed resources that exist; a route or load-assignment response with none is not sent (absence there deletes nothing). */
  #push(type: ResourceType): void {
    const t = this.#state(type);
    const resources: Any[] = [];
    for (const name of t.names) {
      const ref = t.refs.get(name);
      const p = ref === undefined ? undefined : this.hub.published(serviceKey(ref));
      t.sent.set(name, contentKey(type, p));
      if (ref === undefined || p === undefined || !p.exists) continue;
      const r = this.#build(type, name, ref, p);
      if (r !== undefined) resources.push(r);
    }
    if (resources.length === 0 && !isFullSetType(type)) return;
    t.version += 1;
    t.nonce = String(++this.#nonce);
    this.metrics.pushed(typeLabel[type]);
    this.send(create(DiscoveryResponseSchema, { versionInfo: String(t.version), resources, typeUrl: type, nonce: t.nonce }));
  }

  #build(type: ResourceType, name: string, ref: ServiceRef, p: PublishedService): Any | undefined {
    switch (type) {
      case TypeUrl.listener:
        return listenerFor(name, ref);
      case TypeUrl.route:
        return routeFor(ref);
      case TypeUrl.cluster:
        return clusterFor(ref);
      case TypeUrl.endpoints:
        return assignmentFor(p, this.#zone);
    }
  }
}
