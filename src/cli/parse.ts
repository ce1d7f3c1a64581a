import { InvalidArgumentError } from "commander";
import type { PickStrategy } from "../core/pick.js";
import type { StatusName } from "../core/types.js";

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
