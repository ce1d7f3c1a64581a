import type { InstanceRecord } from "./types.js";

/** Selects instances by tags, metadata and zone; every condition must hold. */
export interface Filter {
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Empty matches every zone. */
  readonly zone: string;
}

/** True when the instance meets every condition of the filter. */
export function matches(f: Filter, i: InstanceRecord): boolean {
  if (f.zone !== "" && i.zone !== f.zone) return false;
  for (const t of f.tags) if (!i.tags.includes(t)) return false;
  for (const k in f.metadata) if (i.metadata[k] !== f.metadata[k]) return false;
  return true;
}
