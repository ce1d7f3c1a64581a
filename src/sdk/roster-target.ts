import { DEFAULT_NAMESPACE } from "../core/types.js";
import { RosterClientError } from "./roster-client-error.js";

/** What a `roster:` target names: a service, its namespace, filters, and optionally the registry. */
export interface RosterTarget {
  readonly service: string;
  readonly namespace: string;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly zone: string;
  /** Registry addresses from the target's authority (`roster://host:port,host:port/echo`), if any. */
  readonly registry: string | undefined;
}

/**
 * Parses the parts of a `roster:` target as grpc-js splits them: the
 * authority (registry addresses, may be empty) and the path with its query.
 * Query keys: `namespace`, `tag` (repeatable), `zone`, and `meta.KEY=VALUE`.
 *
 * @example
 * parseRosterTarget("", "echo?namespace=prod&tag=v2&meta.region=eu")
 */
export function parseRosterTarget(authority: string | undefined, path: string): RosterTarget {
  const q = path.indexOf("?");
  const service = decodeURIComponent(q === -1 ? path : path.slice(0, q)).replace(/^\/+/, "");
  if (service === "") throw new RosterClientError("invalid_option", `roster: target names no service (want roster:///SERVICE?namespace=NS&tag=T)`);
  const params = new URLSearchParams(q === -1 ? "" : path.slice(q + 1));
  const metadata: Record<string, string> = {};
  for (const [k, v] of params) {
    if (k.startsWith("meta.")) metadata[k.slice(5)] = v;
    else if (!["namespace", "tag", "zone"].includes(k)) throw new RosterClientError("invalid_option", `roster: unknown target parameter "${k}" (known: namespace, tag, zone, meta.KEY)`);
  }
  return {
    service,
    namespace: params.get("namespace") ?? DEFAULT_NAMESPACE,
    tags: params.getAll("tag"),
    metadata,
    zone: params.get("zone") ?? "",
    registry: authority ? authority : undefined,
  };
}
