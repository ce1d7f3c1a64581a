import { isIP } from "node:net";
import { create } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { Cluster_DiscoveryType, ClusterSchema } from "../../../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ApiVersion, ConfigSourceSchema, type ConfigSource } from "../../../gen/envoy/config/core/v3/config_source_pb.js";
import { HealthStatus } from "../../../gen/envoy/config/core/v3/health_check_pb.js";
import { ClusterLoadAssignmentSchema } from "../../../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../../gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../../gen/envoy/config/route/v3/route_pb.js";
import { RouterSchema } from "../../../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { HttpConnectionManagerSchema } from "../../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { InstanceStatus, type InstanceRecord } from "../../core/types.js";

/** The four resource types Roster serves, by type URL. */
export const TypeUrl = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoints: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
} as const;

/** One of the four type URLs. */
export type ResourceType = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Short names of the types, for metrics labels and logs. */
export const typeLabel: Readonly<Record<ResourceType, string>> = {
  [TypeUrl.listener]: "lds",
  [TypeUrl.route]: "rds",
  [TypeUrl.cluster]: "cds",
  [TypeUrl.endpoints]: "eds",
};

/** True for a type URL Roster serves. */
export function isResourceType(url: string): url is ResourceType {
  return url in typeLabel;
}

/**
 * Types whose every response carries the whole subscribed set, so a name
 * missing from a response means that resource does not exist.
 */
export function isFullSetType(type: ResourceType): boolean {
  return type === TypeUrl.listener || type === TypeUrl.cluster;
}

/** The service a resource name stands for. */
export interface ServiceRef {
  readonly namespace: string;
  readonly service: string;
}

/** `namespace/service`: the one key of a service in every xDS name Roster makes. */
export function serviceKey(ref: ServiceRef): string {
  return `${ref.namespace}/${ref.service}`;
}

/**
 * The service a resource name stands for. A Listener is named as the
 * `xds:///` target: `svc` (the namespace is the client's, from its node
 * metadata) or `ns/svc`. Route configurations, clusters and load assignments
 * are always named `ns/svc`. Namespaces and services are DNS names
 * (SEMANTICS 1.2), so `/` cannot be part of either. Undefined for a name that
 * cannot be a service.
 */
export function parseResourceName(name: string, type: ResourceType, clientNamespace: string): ServiceRef | undefined {
  const slash = name.indexOf("/");
  if (slash < 0) return type === TypeUrl.listener && isDnsName(name) ? { namespace: clientNamespace, service: name } : undefined;
  const namespace = name.slice(0, slash);
  const service = name.slice(slash + 1);
  return isDnsName(namespace) && isDnsName(service) ? { namespace, service } : undefined;
}

function isDnsName(s: string): boolean {
  return s.length >= 1 && s.length <= 253 && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(s);
}

const ads = (): ConfigSource => create(ConfigSourceSchema, { configSourceSpecifier: { case: "ads", value: {} }, resourceApiVersion: ApiVersion.V3 });

/** A client-side Listener: an HttpConnectionManager api_listener taking its routes over ADS, with the router filter. */
export function listenerFor(name: string, ref: ServiceRef): Any {
  const hcm = create(HttpConnectionManagerSchema, {
    routeSpecifier: { case: "rds", value: { configSource: ads(), routeConfigName: serviceKey(ref) } },
    httpFilters: [{ name: "envoy.filters.http.router", configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) } }],
  });
  return anyPack(ListenerSchema, create(ListenerSchema, { name, apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, hcm) } }));
}

/** One virtual host for every authority, routing every path to the service's cluster. */
export function routeFor(ref: ServiceRef): Any {
  const key = serviceKey(ref);
  return anyPack(
    RouteConfigurationSchema,
    create(RouteConfigurationSchema, {
      name: key,
      virtualHosts: [{ name: key, domains: ["*"], routes: [{ match: { pathSpecifier: { case: "prefix", value: "" } }, action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: key } } } }] }],
    }),
  );
}

/** An EDS cluster whose endpoints come over ADS, round robin. */
export function clusterFor(ref: ServiceRef): Any {
  const key = serviceKey(ref);
  return anyPack(ClusterSchema, create(ClusterSchema, { name: key, clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS }, edsClusterConfig: { edsConfig: ads(), serviceName: key } }));
}

/** The instances that become endpoints: HEALTHY ones whose host is an IP literal, which is all a gRPC client accepts. */
export function servingInstances(instances: readonly InstanceRecord[]): InstanceRecord[] {
  return instances.filter((i) => i.status === InstanceStatus.HEALTHY && isIP(bareHost(i.host)) !== 0).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** What a load assignment is built from, as a string: equal strings make equal assignments for every client. */
export function endpointsFingerprint(serving: readonly InstanceRecord[]): string {
  return serving.map((i) => `${i.id}\u0000${i.host}\u0000${i.port}\u0000${i.weight}\u0000${i.zone}`).join("\u0001");
}

/**
 * The load assignment for one client: one locality per zone, weighted by the
 * sum of its instance weights (a locality without a weight is skipped by gRPC
 * clients); endpoints carry their instance weight. A client that names its
 * zone gets that zone's locality at priority 0, present even when it has no
 * serving instance, and every other zone at priority 1: it prefers its zone
 * and fails over at once when the zone is empty, and the priorities do not
 * shift under it as its zone empties and refills (grpc-js keeps a retired
 * priority for 15 minutes). A client without a zone gets every locality at
 * priority 0.
 */
export function loadAssignmentFor(ref: ServiceRef, serving: readonly InstanceRecord[], clientZone: string): Any {
  const zones = new Map<string, InstanceRecord[]>();
  for (const i of serving) {
    const z = zones.get(i.zone);
    if (z === undefined) zones.set(i.zone, [i]);
    else z.push(i);
  }
  if (clientZone !== "" && !zones.has(clientZone)) zones.set(clientZone, []);
  const endpoints = [...zones.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([zone, list]) => ({
      locality: { zone },
      loadBalancingWeight: Math.max(1, list.reduce((s, i) => s + i.weight, 0)),
      priority: clientZone !== "" && zone !== clientZone ? 1 : 0,
      lbEndpoints: list.map((i) => ({
        hostIdentifier: { case: "endpoint" as const, value: { address: { address: { case: "socketAddress" as const, value: { address: bareHost(i.host), portSpecifier: { case: "portValue" as const, value: i.port } } } } } },
        healthStatus: HealthStatus.HEALTHY,
        loadBalancingWeight: i.weight,
      })),
    }));
  return anyPack(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: serviceKey(ref), endpoints }));
}

function bareHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
