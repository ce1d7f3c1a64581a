import { InvalidArgumentError } from "commander";
import { InstanceStatus, Strategy } from "../../gen/roster/v1/registry_pb.js";

// Option-argument parsers for commander: each throws InvalidArgumentError, which
// commander reports as "option '--x <v>' argument 'y' is invalid. <why>".

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "10s", "1500ms", "2m", "1h30m", or a bare number of seconds; in milliseconds. */
export function parseDuration(value: string): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw new InvalidArgumentError('Expected a duration such as 10s, 1500ms, 2m or 1h30m.');
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * (units[p[2] ?? "s"] ?? 1000), 0));
}

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
export const statusNames = ["starting", "healthy", "unhealthy", "stopping", "unknown"] as const;

/** "healthy" → InstanceStatus.HEALTHY. */
export function parseStatus(value: string): InstanceStatus {
  const key = value.trim().toUpperCase() as keyof typeof InstanceStatus;
  if (!(statusNames as readonly string[]).includes(value.trim().toLowerCase())) throw new InvalidArgumentError(`Expected one of ${statusNames.join(", ")}.`);
  return InstanceStatus[key];
}

/** The pick strategies of Resolve, by their lower-case names. */
export const strategyNames = ["round_robin", "random", "weighted", "least_loaded"] as const;

/** "round_robin" (or "round-robin") → Strategy.ROUND_ROBIN. */
export function parseStrategy(value: string): Strategy {
  const name = value.trim().toLowerCase().replace(/-/g, "_");
  if (!(strategyNames as readonly string[]).includes(name)) throw new InvalidArgumentError(`Expected one of ${strategyNames.join(", ")}.`);
  return Strategy[name.toUpperCase() as keyof typeof Strategy];
}
