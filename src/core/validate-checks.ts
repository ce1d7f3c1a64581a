import type { Limits } from "../config.js";
import { invalidArgument, limitReached } from "../errors.js";
import type { DurationLike } from "./duration.js";
import type { CheckKind, CheckSpec } from "./types.js";
import { durationMs } from "./validate.js";

/** The fields of a HealthCheck, as the schema defines them. */
export interface CheckFields {
  name: string;
  kind:
    | { case: "http"; value: { path: string; tls: boolean; tlsSkipVerify: boolean; expectedStatuses: readonly number[]; headers: Readonly<Record<string, string>> } }
    | { case: "tcp"; value: object }
    | { case: "grpc"; value: { service: string; tls: boolean; tlsSkipVerify: boolean } }
    | { case: undefined; value?: undefined };
  interval?: DurationLike | undefined;
  timeout?: DurationLike | undefined;
  failuresBeforeUnhealthy: number;
  successesBeforeHealthy: number;
  initialDelay?: DurationLike | undefined;
  deregisterAfter?: DurationLike | undefined;
  port: number;
}

/** Where the registry may send probes. */
export interface CheckTargetPolicy {
  /**
   * When false (the default), a check probes only the instance's own port:
   * whoever may register must not be able to make the registry probe, and
   * report on, other ports of a host.
   */
  readonly anyPort: boolean;
}

/** Defaults of a check's optional fields (README, "Active health checks"). */
export const checkDefaults = {
  intervalMs: 10_000,
  /** The timeout is this or the interval, whichever is shorter. */
  timeoutMs: 5_000,
  failuresBeforeUnhealthy: 3,
  successesBeforeHealthy: 2,
  httpPath: "/health",
} as const;

const checkName = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = /^[\x20-\x7e]*$/;
const pathChars = /^\/[\x21-\x7e]*$/;
const most = 100;

/**
 * Checks the active checks of a Register request and fills in their defaults
 * (SEMANTICS 6.2). `instancePort` is the instance's own port.
 */
export function validateChecks(checks: readonly CheckFields[], instancePort: number, limits: Limits, policy: CheckTargetPolicy): CheckSpec[] {
  if (checks.length > limits.maxChecksPerInstance) {
    throw limitReached("max-checks-per-instance", limits.maxChecksPerInstance, `checks has ${checks.length}`);
  }
  const kinds = checks.map((c) => c.kind.case);
  const names = new Set<string>();
  return checks.map((c, i) => {
    const field = `checks[${i}]`;
    const kind = c.kind.case;
    if (kind === undefined) throw invalidArgument(`${field}.kind`, "is required: http, tcp or grpc");
    const name = c.name !== "" ? c.name : kinds.filter((k) => k === kind).length > 1 ? `${kind}-${i}` : kind;
    if (!checkName.test(name)) throw invalidArgument(`${field}.name`, "must be 1 to 64 lowercase letters, digits, '.', '_' and '-'");
    if (names.has(name)) throw invalidArgument(`${field}.name`, `"${name}" is used by another check of the instance`);
    names.add(name);
    const intervalMs = durationMs(c.interval, `${field}.interval`) || checkDefaults.intervalMs;
    if (intervalMs < limits.minCheckIntervalMs) throw invalidArgument(`${field}.interval`, `must be at least ${limits.minCheckIntervalMs} ms (min-check-interval-ms)`);
    if (intervalMs > 3_600_000) throw invalidArgument(`${field}.interval`, "must be at most 1 h");
    const timeoutMs = durationMs(c.timeout, `${field}.timeout`) || Math.min(checkDefaults.timeoutMs, intervalMs);
    if (timeoutMs > intervalMs) throw invalidArgument(`${field}.timeout`, "must not exceed the interval");
    const failuresBeforeUnhealthy = count(c.failuresBeforeUnhealthy, checkDefaults.failuresBeforeUnhealthy, `${field}.failures_before_unhealthy`);
    const successesBeforeHealthy = count(c.successesBeforeHealthy, checkDefaults.successesBeforeHealthy, `${field}.successes_before_healthy`);
    const initialDelayMs = durationMs(c.initialDelay, `${field}.initial_delay`);
    if (initialDelayMs > 3_600_000) throw invalidArgument(`${field}.initial_delay`, "must be at most 1 h");
    const deregisterAfterMs = durationMs(c.deregisterAfter, `${field}.deregister_after`);
    if (deregisterAfterMs !== 0 && deregisterAfterMs < intervalMs) throw invalidArgument(`${field}.deregister_after`, "must be 0 (never) or at least the interval");
    if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw invalidArgument(`${field}.port`, "must be 0..65535");
    if (c.port !== 0 && c.port !== instancePort && !policy.anyPort) {
      throw invalidArgument(`${field}.port`, "must be 0 or the instance's port: this node probes no other port (check-any-port)");
    }
    const spec: CheckSpec = {
      name,
      kind: kind satisfies CheckKind,
      port: c.port === instancePort ? 0 : c.port,
      intervalMs,
      timeoutMs,
      failuresBeforeUnhealthy,
      successesBeforeHealthy,
      initialDelayMs,
      deregisterAfterMs,
    };
    if (c.kind.case === "http") return { ...spec, http: validateHttp(c.kind.value, field) };
    if (c.kind.case === "grpc") {
      const g = c.kind.value;
      if (g.service.length > 253 || !headerValue.test(g.service)) throw invalidArgument(`${field}.grpc.service`, "must be at most 253 printable ASCII characters");
      if (g.tlsSkipVerify && !g.tls) throw invalidArgument(`${field}.grpc.tls_skip_verify`, "needs tls");
      return { ...spec, grpc: { service: g.service, tls: g.tls, tlsSkipVerify: g.tlsSkipVerify } };
    }
    return spec;
  });
}

function count(n: number, fallback: number, field: string): number {
  if (n === 0) return fallback;
  if (!Number.isInteger(n) || n < 1 || n > most) throw invalidArgument(field, `must be 1..${most}`);
  return n;
}

function validateHttp(h: Extract<CheckFields["kind"], { case: "http" }>["value"], field: string): NonNullable<CheckSpec["http"]> {
  const path = h.path === "" ? checkDefaults.httpPath : h.path;
  if (path.length > 1024 || !pathChars.test(path)) throw invalidArgument(`${field}.http.path`, "must start with '/' and be at most 1024 printable ASCII characters");
  if (h.tlsSkipVerify && !h.tls) throw invalidArgument(`${field}.http.tls_skip_verify`, "needs tls");
  if (h.expectedStatuses.length > 20) throw invalidArgument(`${field}.http.expected_statuses`, "has more than 20 entries");
  for (const s of h.expectedStatuses) {
    if (!Number.isInteger(s) || s < 100 || s > 599) throw invalidArgument(`${field}.http.expected_statuses`, `${s} is not an HTTP status`);
  }
  const entries = Object.entries(h.headers);
  if (entries.length > 20) throw invalidArgument(`${field}.http.headers`, "has more than 20 entries");
  let bytes = 0;
  for (const [k, v] of entries) {
    if (!headerName.test(k) || !headerValue.test(v)) throw invalidArgument(`${field}.http.headers`, `"${k.slice(0, 40)}" is not a valid header`);
    bytes += k.length + v.length;
  }
  if (bytes > 4096) throw invalidArgument(`${field}.http.headers`, "more than 4096 bytes");
  // Sorted, so that the same headers given in another order are the same check.
  const headers = Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { path, tls: h.tls, tlsSkipVerify: h.tlsSkipVerify, expectedStatuses: [...new Set(h.expectedStatuses)].sort((a, b) => a - b), headers };
}
