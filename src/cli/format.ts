import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { CheckStatus, InstanceStatus, RemovalReason, WatchEventType, type Instance, type ServiceSummary, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import { durationToMs, formatDuration } from "../core/duration.js";
import { formatHostPort } from "../core/host-port.js";

/**
 * A message in its canonical proto3 JSON form (the same shape `curl` gets
 * from the Connect protocol), with zero values kept so scripts can rely on
 * every field being present.
 */
export function messageJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

/**
 * Lays out rows under a header in columns two spaces apart; the last column
 * is not padded so long metadata does not push trailing blanks.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** Key-value lines with the keys aligned, for single objects such as `roster status`. */
export function fields(entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join("\n") + "\n";
}

/** How long ago a timestamp was, e.g. "4.2s ago"; "-" when unset. */
export function age(t: Timestamp | undefined, now: number): string {
  return t === undefined ? "-" : `${formatDuration(Math.max(0, now - timestampMs(t)))} ago`;
}

/** "healthy", "stopping", ...: the lower-case name of a status. */
export function statusLabel(s: InstanceStatus): string {
  return s === InstanceStatus.UNSPECIFIED ? "healthy" : (InstanceStatus[s] ?? String(s)).toLowerCase();
}

/** Each active check as `name:status` (`http:failing,tcp:passing`), or "-" with none declared. */
export function checksLabel(i: Pick<Instance, "checks" | "checkResults">): string {
  if (i.checks.length === 0) return "-";
  const status = new Map(i.checkResults.map((r) => [r.name, (CheckStatus[r.status] ?? String(r.status)).toLowerCase()]));
  return i.checks.map((c) => `${c.name}:${status.get(c.name) ?? "pending"}`).join(",");
}

/** `host:port`, with brackets around an IPv6 host. */
export function address(i: Pick<Instance, "host" | "port">): string {
  return formatHostPort(i.host, i.port);
}

function list(values: readonly string[]): string {
  return values.length === 0 ? "-" : values.join(",");
}

function metadata(m: Readonly<Record<string, string>>): string {
  return list(Object.entries(m).map(([k, v]) => `${k}=${v}`));
}

/**
 * The instance table of `roster get`, `resolve` and `register`. METADATA
 * comes last, where a long value can run on without padding the others.
 */
export function instanceTable(instances: readonly Instance[], now = Date.now()): string {
  return table(
    ["ID", "ADDRESS", "STATUS", "CHECKS", "ZONE", "WEIGHT", "LOAD", "TTL", "HEARTBEAT", "REV (CREATE/MOD)", "TAGS", "METADATA"],
    instances.map((i) => [
      i.id,
      address(i),
      statusLabel(i.status),
      checksLabel(i),
      i.zone || "-",
      String(i.weight || 1),
      String(i.load),
      i.ttl === undefined ? "-" : formatDuration(durationToMs(i.ttl)),
      age(i.lastHeartbeatAt, now),
      `${i.createRevision}/${i.modRevision}`,
      list(i.tags),
      metadata(i.metadata),
    ]),
  );
}

/** The service table of `roster ls`. */
export function serviceTable(services: readonly ServiceSummary[]): string {
  return table(
    ["SERVICE", "INSTANCES", "HEALTHY", "STARTING", "UNHEALTHY", "STOPPING", "UNKNOWN"],
    services.map((s) => [s.name, s.instances, s.healthy, s.starting, s.unhealthy, s.stopping, s.unknown].map(String)),
  );
}

/**
 * One line per watch event, e.g.
 * `rev 12  added    user/user-1  127.0.0.1:8081  healthy  version=1.4.2`.
 */
export function watchLine(e: WatchResponse): string {
  const stale = e.stale ? "  (stale)" : "";
  const i = e.instance;
  switch (e.type) {
    case WatchEventType.ADDED:
    case WatchEventType.UPDATED:
      return `rev ${e.revision}  ${e.type === WatchEventType.ADDED ? "added  " : "updated"}  ${i ? `${i.service}/${i.id}  ${address(i)}  ${statusLabel(i.status)}  ${metadata(i.metadata)}` : ""}${stale}`;
    case WatchEventType.REMOVED:
      return `rev ${e.revision}  removed  ${i ? `${i.service}/${i.id}  ${address(i)}` : ""}  (${(RemovalReason[e.reason] ?? "unknown").toLowerCase()})${stale}`;
    case WatchEventType.SNAPSHOT_COMPLETE:
      return `rev ${e.revision}  -- snapshot complete, live from here --${stale}`;
    case WatchEventType.RESET:
      return `rev ${e.revision}  -- reset: the start revision is gone from history, a snapshot follows --${stale}`;
    case WatchEventType.PROGRESS:
      return `rev ${e.revision}  -- progress --${stale}`;
    default:
      return `rev ${e.revision}  event ${e.type}${stale}`;
  }
}
