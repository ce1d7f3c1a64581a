import { hostname } from "node:os";
import { DEFAULT_NAMESPACE } from "../core/types.js";
import { xdsBootstrap } from "../server/xds/bootstrap.js";
import type { ClientOptions } from "./client-options.js";
import type { CliIo } from "./io.js";
import { namespaceOf, registryAddresses } from "./registry-session.js";

/** Options of `roster xds-bootstrap`. */
export interface XdsBootstrapOptions extends ClientOptions {
  readonly serviceZone?: string;
  readonly nodeId?: string;
}

/**
 * Prints a GRPC_XDS_BOOTSTRAP document that points a gRPC client at the
 * registry nodes of --registry (in failover order), in zone --service-zone
 * and the namespace of --namespace.
 */
export function xdsBootstrapAction(io: CliIo, opts: XdsBootstrapOptions): void {
  const servers = registryAddresses(opts, io.env)
    .split(",")
    .map((a) => a.trim().replace(/^https?:\/\//, "").replace(/\/+$/, ""))
    .filter((a) => a !== "");
  const doc = xdsBootstrap({ servers, zone: opts.serviceZone ?? "", namespace: namespaceOf(opts, io.env) || DEFAULT_NAMESPACE, nodeId: opts.nodeId ?? `${hostname()}-${process.pid}` });
  io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}
