import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  DeregisterResponseSchema,
  GetStatusResponseSchema,
  type Limits,
  ListServicesResponseSchema,
  ResolveResponseSchema,
  Strategy,
} from "../../gen/roster/v1/registry_pb.js";
import { durationToMs, formatDuration } from "../core/duration.js";
import type { PickStrategy } from "../core/pick.js";
import type { ClientOptions } from "./client-options.js";
import { fields, instanceTable, serviceTable } from "./format.js";
import type { CliIo } from "./io.js";
import { filterFrom, print, unary, withRegistry, type FilterOptions } from "./registry-session.js";

/** The options of `resolve`. */
export interface ResolveOptions extends FilterOptions {
  readonly strategy?: PickStrategy;
  readonly preferZone?: string;
  readonly all?: boolean;
}

/** `ls`: the services of a namespace with their instance counts. */
export async function ls(io: CliIo, opts: ClientOptions): Promise<void> {
  const res = await withRegistry(opts, io, (registry, namespace) => registry.call((c) => c.listServices({ namespace }, unary(io))));
  print(io, opts, ListServicesResponseSchema, res, (r) => (r.services.length === 0 ? "no services\n" : serviceTable(r.services)));
}

/** `get SERVICE`: every instance of a service, whatever its status. */
export async function get(io: CliIo, opts: ClientOptions, service: string): Promise<void> {
  const res = await withRegistry(opts, io, (registry, namespace) => registry.call((c) => c.resolve({ namespace, service, allStatuses: true }, unary(io))));
  print(io, opts, ResolveResponseSchema, res, (r) => (r.instances.length === 0 ? `no instances of ${service}\n` : instanceTable(r.instances)));
}

/** `resolve SERVICE`: the healthy matching instances, or one picked by a strategy. */
export async function resolve(io: CliIo, opts: ClientOptions & ResolveOptions, service: string): Promise<void> {
  const request = {
    service,
    filter: filterFrom(opts),
    strategy: opts.strategy === undefined ? Strategy.UNSPECIFIED : Strategy[opts.strategy.toUpperCase() as Uppercase<PickStrategy>],
    preferZone: opts.preferZone ?? "",
    allStatuses: opts.all ?? false,
  };
  const res = await withRegistry(opts, io, (registry, namespace) => registry.call((c) => c.resolve({ namespace, ...request }, unary(io))));
  print(io, opts, ResolveResponseSchema, res, (r) => (r.instances.length === 0 ? `no matching instances of ${service}\n` : instanceTable(r.instances)));
}

/** `deregister SERVICE ID`: removes an instance at once. */
export async function deregister(io: CliIo, opts: ClientOptions, service: string, id: string): Promise<void> {
  const res = await withRegistry(opts, io, (registry, namespace) => registry.call((c) => c.deregister({ namespace, service, id }, unary(io))));
  print(io, opts, DeregisterResponseSchema, res, (r) => `deregistered ${service}/${id} (revision ${r.revision})\n`);
}

/** `status`: the registry node itself. */
export async function status(io: CliIo, opts: ClientOptions): Promise<void> {
  const res = await withRegistry(opts, io, (registry) => registry.call((c) => c.getStatus({}, unary(io))));
  print(io, opts, GetStatusResponseSchema, res, (r) =>
    fields([
      ["version", r.version],
      ["store", r.store],
      ["revision", String(r.revision)],
      ["instances", String(r.instances)],
      ["leases", String(r.leases)],
      ["watchers", String(r.watchers)],
      ["expiry protection", r.expiryProtection ? "ACTIVE (expiry suspended)" : "off"],
      ["stale", r.stale ? "yes (store unreachable, serving the last view)" : "no"],
      ["started at", r.startedAt ? timestampDate(r.startedAt).toISOString() : "-"],
      ...(r.checks ? ([["checks", `${r.checks.owned} owned by this node, ${r.checks.members} members${r.checks.protection ? ", PROTECTION (failures not committed)" : ""}`]] as [string, string][]) : []),
      ...(r.xds ? ([["xds", `${r.xds.clients} clients, ${r.xds.services} services, ${r.xds.pushes} pushes, ${r.xds.nacks} NACKs${r.xds.holding ? ", holding back empty endpoint sets" : ""}`]] as [string, string][]) : []),
      ...(r.limits ? limitFields(r.limits) : []),
    ]),
  );
}

/** The limits in force, named as the settings that set them (`roster serve --help`). */
function limitFields(l: Limits): [string, string][] {
  const d = (x: Parameters<typeof durationToMs>[0]) => formatDuration(durationToMs(x));
  return [
    ["max-message-bytes", String(l.maxMessageBytes)],
    ["max-instances", String(l.maxInstances)],
    ["max-instances-per-service", String(l.maxInstancesPerService)],
    ["ttl", `${d(l.minTtl)} to ${d(l.maxTtl)}`],
    ["max-tags", `${l.maxTags} (each up to ${l.maxTagLength} characters)`],
    ["max-metadata", `${l.maxMetadataEntries} entries, ${l.maxMetadataBytes} bytes`],
    ["max-weight", String(l.maxWeight)],
    ["max-watchers", String(l.maxWatchers)],
    ["max-watch-queue", String(l.maxWatchQueue)],
    ["max-streams-per-connection", String(l.maxStreamsPerConnection)],
    ["history-size", String(l.historySize)],
    ["watch-progress-interval", d(l.watchProgressInterval)],
  ];
}
