import { InvalidArgumentError } from "commander";
import { InstanceStatus, Strategy } from "../../gen/roster/v1/registry_pb.js";
import { parseDuration } from "../core/duration.js";

// Option-argument parsers for commander: each throws InvalidArgumentError, which
// commander reports as "option '--x <v>' argument 'y' is invalid. <why>".

/** "10s", "1500ms", "2m", "1h30m", or a bare number of seconds; in milliseconds. */
export function parseDurationOption(value: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
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
