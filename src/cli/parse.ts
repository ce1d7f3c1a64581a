import { InvalidArgumentError, Option } from "commander";
import type { PickStrategy } from "../core/pick.js";
import type { StatusName } from "../core/types.js";
import type { CheckDeclaration } from "../sdk/registrar.js";

// Option-argument parsers for commander: each throws InvalidArgumentError, which
// commander reports as "option '--x <v>' argument 'y' is invalid. <why>".
// They return names rather than generated enums: command definitions load
// before any command runs (also for --help), and the generated code is
// loaded only by the commands that talk to a registry.

/** A whole number in [min, max]. */
export function parseInteger(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** A revision: a non-negative integer of up to 64 bits. */
export function parseRevision(value: string): bigint {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError("Expected a revision (a whole number).");
  return BigInt(value.trim());
}

/** Collects repeated `--meta k=v` into one record. */
export function collectKeyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError("Expected key=value.");
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** Collects repeated `--tag t` (or `--tag a,b`) into a list. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter((v) => v !== "")];
}

/** The statuses an instance may report, by their lower-case names. */
export const statusNames: readonly StatusName[] = ["starting", "healthy", "unhealthy", "stopping", "unknown"];

/** "healthy" (any case). */
export function parseStatus(value: string): StatusName {
  const name = value.trim().toLowerCase();
  const found = statusNames.find((s) => s === name);
  if (found === undefined) throw new InvalidArgumentError(`Expected one of ${statusNames.join(", ")}.`);
  return found;
}

/** The pick strategies of Resolve, by their lower-case names. */
export const strategyNames: readonly PickStrategy[] = ["round_robin", "random", "weighted", "least_loaded"];

/** "round_robin" (or "round-robin", any case). */
export function parseStrategy(value: string): PickStrategy {
  const name = value.trim().toLowerCase().replace(/-/g, "_");
  const found = strategyNames.find((s) => s === name);
  if (found === undefined) throw new InvalidArgumentError(`Expected one of ${strategyNames.join(", ")}.`);
  return found;
}

/**
 * One `--check KIND[@PORT][:ARG]`: `http:/healthz`, `https:/healthz`,
 * `https-insecure:/healthz` (any certificate), `tcp`, `tcp@9000`, `grpc`,
 * `grpc:echo.v1.Echo`, `grpcs:...`, `grpcs-insecure:...`. ARG is the HTTP
 * path or the gRPC service name; PORT another port of the instance's host.
 */
export function parseCheck(value: string, previous: CheckDeclaration[] = []): CheckDeclaration[] {
  const m = /^([a-z-]+)(?:@(\d+))?(?::(.*))?$/.exec(value.trim());
  const kinds = ["http", "https", "https-insecure", "tcp", "grpc", "grpcs", "grpcs-insecure"];
  if (m === null || !kinds.includes(m[1]!)) throw new InvalidArgumentError(`Expected KIND[@PORT][:ARG] with KIND one of ${kinds.join(", ")}, e.g. http:/healthz or grpc:echo.v1.Echo.`);
  const [, kind = "", portText, arg] = m;
  const port = portText === undefined ? {} : { port: parseInteger(1, 65535)(portText) };
  const tls = kind.endsWith("s") || kind.endsWith("-insecure");
  const tlsSkipVerify = kind.endsWith("-insecure");
  if (kind === "tcp") {
    if (arg !== undefined) throw new InvalidArgumentError("A tcp check takes no :ARG.");
    return [...previous, { kind: "tcp", ...port }];
  }
  if (kind.startsWith("grpc")) return [...previous, { kind: "grpc", service: arg ?? "", tls, tlsSkipVerify, ...port }];
  if (arg !== undefined && !arg.startsWith("/")) throw new InvalidArgumentError("An HTTP check's path starts with /.");
  return [...previous, { kind: "http", ...(arg === undefined ? {} : { path: arg }), tls, tlsSkipVerify, ...port }];
}

/**
 * The options of `register` that declare active checks (SEMANTICS 6.2): any
 * number of --check, and the timing every one of them shares. Durations stay
 * text here and are read when the command runs.
 */
export function checkOptions(): Option[] {
  return [
    new Option("--check <KIND[@PORT][:ARG]>", "active check the registry runs (repeatable): http:/healthz, https:/p, https-insecure:/p, tcp, grpc[:service], grpcs[:service]").argParser(parseCheck),
    new Option("--check-interval <duration>", "time between probes of each check (default 10s)"),
    new Option("--check-timeout <duration>", "probe timeout (default 5s, at most the interval)"),
    new Option("--check-failures <n>", "failures in a row before a check fails and the instance is UNHEALTHY (default 3)").argParser(parseInteger(1, 100)),
    new Option("--check-successes <n>", "successes in a row before a failing check passes again (default 2)").argParser(parseInteger(1, 100)),
    new Option("--check-initial-delay <duration>", "wait before the first probe (plus a random part of one interval)"),
    new Option("--check-deregister-after <duration>", "remove the instance once a check has failed this long (default never)"),
  ];
}
