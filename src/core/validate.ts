import { randomUUID } from "node:crypto";
import type { Limits } from "../config.js";
import { invalidArgument, limitReached } from "../errors.js";
import { DEFAULT_NAMESPACE, InstanceStatus, type InstanceKey, type InstanceSpec } from "./types.js";
import type { Filter } from "./filter.js";
import { durationToMs, type DurationLike } from "./duration.js";
import { validateChecks, type CheckFields, type CheckTargetPolicy } from "./validate-checks.js";

const dnsName = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
const printable = /^[\x21-\x7e]+$/;
const hostChars = /^[A-Za-z0-9.:_%\[\]-]+$/;
const metadataKey = /^[A-Za-z0-9._\/-]+$/;
const tagChars = /^[\x20-\x7e]+$/;

/** Resolves and checks a namespace. */
export function validateNamespace(namespace: string, limits: Limits, field = "namespace"): string {
  if (namespace === "") return DEFAULT_NAMESPACE;
  if (namespace.length > limits.maxNamespaceLength) throw invalidArgument(field, `longer than ${limits.maxNamespaceLength} characters`);
  if (!dnsName.test(namespace)) throw invalidArgument(field, "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit");
  return namespace;
}

/** Checks a service name: a DNS name of 1 to 253 characters (SEMANTICS 1.2). */
export function validateService(service: string, limits: Limits, field = "service"): string {
  if (service === "") throw invalidArgument(field, "is required");
  if (service.length > limits.maxServiceNameLength) throw invalidArgument(field, `longer than ${limits.maxServiceNameLength} characters`);
  if (!dnsName.test(service)) throw invalidArgument(field, "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit");
  return service;
}

/** Checks an instance id: 1 to 128 printable ASCII characters (SEMANTICS 1.2). */
export function validateInstanceId(id: string, limits: Limits, field = "id"): string {
  if (id === "") throw invalidArgument(field, "is required");
  if (id.length > limits.maxInstanceIdLength) throw invalidArgument(field, `longer than ${limits.maxInstanceIdLength} characters`);
  if (!printable.test(id)) throw invalidArgument(field, "must be printable ASCII without spaces");
  return id;
}

/** Checks the three parts of an instance's identity. */
export function validateKey(req: { namespace: string; service: string; id: string }, limits: Limits): InstanceKey {
  return {
    namespace: validateNamespace(req.namespace, limits),
    service: validateService(req.service, limits),
    id: validateInstanceId(req.id, limits),
  };
}

/** Checks a status value sent by a client; UNSPECIFIED comes back as undefined. */
export function validateStatus(status: number, field = "status"): InstanceStatus | undefined {
  if (status === InstanceStatus.UNSPECIFIED) return undefined;
  if (!(status in InstanceStatus) || !Number.isInteger(status)) throw invalidArgument(field, `unknown status ${status}`);
  return status as InstanceStatus;
}

/** Converts a protobuf Duration to milliseconds, refusing negative or malformed values. */
export function durationMs(d: DurationLike | undefined, field: string): number {
  if (d === undefined) return 0;
  if (d.seconds < 0n || d.nanos < 0 || d.nanos > 999_999_999) throw invalidArgument(field, "must not be negative");
  if (d.seconds > 10n ** 9n) throw invalidArgument(field, "is too long");
  return durationToMs(d);
}

function validateTags(tags: readonly string[], limits: Limits, field: string): string[] {
  if (tags.length > limits.maxTags) throw limitReached("max-tags", limits.maxTags, `${field} has ${tags.length}`);
  for (const [i, t] of tags.entries()) {
    if (t === "" || t.length > limits.maxTagLength || !tagChars.test(t)) {
      throw invalidArgument(`${field}[${i}]`, `must be 1 to ${limits.maxTagLength} printable ASCII characters`);
    }
  }
  return [...new Set(tags)];
}

function validateMetadata(metadata: Readonly<Record<string, string>>, limits: Limits, field: string): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > limits.maxMetadataEntries) {
    throw limitReached("max-metadata-entries", limits.maxMetadataEntries, `${field} has ${entries.length}`);
  }
  let bytes = 0;
  for (const [k, v] of entries) {
    if (k === "" || k.length > 128 || !metadataKey.test(k)) {
      throw invalidArgument(`${field} key "${k.slice(0, 40)}"`, "must be 1 to 128 characters of letters, digits, '.', '_', '/' and '-'");
    }
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > limits.maxMetadataBytes) throw limitReached("max-metadata-bytes", limits.maxMetadataBytes, `${field} has ${bytes} bytes`);
  return Object.fromEntries(entries);
}

function validateZone(zone: string, limits: Limits, field: string): string {
  if (zone === "") return "";
  if (zone.length > limits.maxZoneLength || !printable.test(zone)) {
    throw invalidArgument(field, `must be at most ${limits.maxZoneLength} printable ASCII characters without spaces`);
  }
  return zone;
}

/** The fields of a Register request, as the schema defines them. */
export interface RegisterFields {
  namespace: string;
  service: string;
  id: string;
  host: string;
  port: number;
  status: number;
  tags: readonly string[];
  metadata: Readonly<Record<string, string>>;
  weight: number;
  zone: string;
  ttl?: { seconds: bigint; nanos: number } | undefined;
  checks?: readonly CheckFields[];
}

/** Checks a Register request and returns the instance it describes; assigns an id when none is given. */
export function validateRegistration(req: RegisterFields, limits: Limits, checkPolicy: CheckTargetPolicy = { anyPort: false }): InstanceSpec {
  const namespace = validateNamespace(req.namespace, limits);
  const service = validateService(req.service, limits);
  const id = req.id === "" ? randomUUID() : validateInstanceId(req.id, limits);
  if (req.host === "") throw invalidArgument("host", "is required");
  if (req.host.length > limits.maxHostLength || !hostChars.test(req.host)) {
    throw invalidArgument("host", `must be a host name or IP address of at most ${limits.maxHostLength} characters`);
  }
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) throw invalidArgument("port", "must be 1..65535");
  if (req.weight > limits.maxWeight) throw invalidArgument("weight", `must be at most ${limits.maxWeight}`);
  const ttlMs = durationMs(req.ttl, "ttl");
  if (ttlMs !== 0 && (ttlMs < limits.minTtlMs || ttlMs > limits.maxTtlMs)) {
    throw invalidArgument("ttl", `must be 0 (no lease) or between ${limits.minTtlMs} ms and ${limits.maxTtlMs} ms`);
  }
  return {
    namespace,
    service,
    id,
    host: req.host,
    port: req.port,
    status: validateStatus(req.status) ?? InstanceStatus.HEALTHY,
    tags: validateTags(req.tags, limits, "tags"),
    metadata: validateMetadata(req.metadata, limits, "metadata"),
    weight: req.weight === 0 ? 1 : req.weight,
    zone: validateZone(req.zone, limits, "zone"),
    ttlMs,
    checks: validateChecks(req.checks ?? [], req.port, limits, checkPolicy),
  };
}

/** Checks a filter from a Watch or Resolve request. */
export function validateFilter(f: { tags: readonly string[]; metadata: Readonly<Record<string, string>>; zone: string } | undefined, limits: Limits): Filter {
  if (f === undefined) return { tags: [], metadata: {}, zone: "" };
  return {
    tags: validateTags(f.tags, limits, "filter.tags"),
    metadata: validateMetadata(f.metadata, limits, "filter.metadata"),
    zone: validateZone(f.zone, limits, "filter.zone"),
  };
}

/** Checks a zone used for affinity. */
export function validatePreferZone(zone: string, limits: Limits): string {
  return validateZone(zone, limits, "prefer_zone");
}
