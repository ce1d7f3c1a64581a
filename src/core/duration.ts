import { create } from "@bufbuild/protobuf";
import { DurationSchema, type Duration } from "@bufbuild/protobuf/wkt";

/** A protobuf Duration's two fields, as every generated message carries them. */
export interface DurationLike {
  readonly seconds: bigint;
  readonly nanos: number;
}

/** A protobuf Duration of `ms` milliseconds; undefined for 0 or less (an unset field). */
export function durationFromMs(ms: number): Duration | undefined {
  if (!(ms > 0)) return undefined;
  const whole = Math.floor(ms);
  return create(DurationSchema, { seconds: BigInt(Math.floor(whole / 1000)), nanos: (whole % 1000) * 1e6 });
}

/** A protobuf Duration in whole milliseconds (0 when unset); sub-millisecond nanos are dropped. */
export function durationToMs(d: DurationLike | undefined): number {
  return d === undefined ? 0 : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Reads "10s", "1500ms", "2m", "1h30m", or a bare number of seconds, in
 * milliseconds. Throws RangeError naming the accepted forms.
 */
export function parseDuration(value: string): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw new RangeError("Expected a duration such as 10s, 1500ms, 2m or 1h30m.");
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * (units[p[2] ?? "s"] ?? 1000), 0));
}

/** "1.5s", "2m05s", "3h20m": a span short enough to read at a glance. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
