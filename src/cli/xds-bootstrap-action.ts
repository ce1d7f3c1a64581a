import * as fs from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { DEFAULT_NAMESPACE } from "../core/types.js";
import { securityEnvVars } from "../sdk/client-security.js";
import { xdsBootstrap, type BootstrapSecurity } from "../server/xds/bootstrap.js";
import type { ClientOptions } from "./client-options.js";
import { UsageError, type CliIo } from "./io.js";
import { namespaceOf, registryAddresses } from "./registry-session.js";

/** The variable naming the JWT file of `roster xds-bootstrap` (`--token-file` where the command line offers it). */
export const xdsTokenFileEnvVar = "ROSTER_XDS_TOKEN_FILE";

/** Options of `roster xds-bootstrap`. */
export interface XdsBootstrapOptions extends ClientOptions {
  readonly serviceZone?: string;
  readonly nodeId?: string;
  /** A file holding the JWT the client sends on its ADS stream. */
  readonly tokenFile?: string;
}

/** An absolute path to a file that exists: the client reads it from its own working directory, later. */
function fileArg(name: string, file: string | undefined): string | undefined {
  if (file === undefined || file === "") return undefined;
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UsageError(`${name}: no such file ${abs}`);
  return abs;
}

/**
 * The bootstrap's security: TLS when a node is named `https://` or any TLS
 * file is given (flags, else ROSTER_TLS_*), and a token file. A token itself
 * is refused: a bootstrap is read by every process that runs with it and
 * often committed or mounted widely, and the client must re-read the file to
 * renew an expiring token.
 */
function securityOf(opts: XdsBootstrapOptions, env: NodeJS.ProcessEnv, servers: readonly string[]): BootstrapSecurity | undefined {
  if (opts.token !== undefined) throw new UsageError("--token: a bootstrap names a file the client reads the token from, not the token; write it to a file and pass $" + xdsTokenFileEnvVar);
  const caFile = fileArg("--ca", opts.ca ?? env[securityEnvVars.ca]);
  const certFile = fileArg("--client-cert", opts.clientCert ?? env[securityEnvVars.cert]);
  const keyFile = fileArg("--client-key", opts.clientKey ?? env[securityEnvVars.key]);
  const tokenFile = fileArg("--token-file", opts.tokenFile ?? env[xdsTokenFileEnvVar]);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError("--client-cert and --client-key go together");
  const tls = servers.some((s) => s.startsWith("https://")) || caFile !== undefined || certFile !== undefined;
  if (!tls && tokenFile === undefined) return undefined;
  return { tls, ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}), ...(tokenFile ? { tokenFile } : {}) };
}

/**
 * Prints a GRPC_XDS_BOOTSTRAP document that points a gRPC client at the
 * registry nodes of --registry (in failover order), in zone --service-zone
 * and the namespace of --namespace, over TLS (and mTLS) with --ca,
 * --client-cert and --client-key, and with the JWT in the token file.
 */
export function xdsBootstrapAction(io: CliIo, opts: XdsBootstrapOptions): void {
  const addresses = registryAddresses(opts, io.env)
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  const security = securityOf(opts, io.env, addresses);
  const servers = addresses.map((a) => a.replace(/^https?:\/\//, "").replace(/\/+$/, ""));
  const doc = xdsBootstrap({
    servers,
    zone: opts.serviceZone ?? "",
    namespace: namespaceOf(opts, io.env) || DEFAULT_NAMESPACE,
    nodeId: opts.nodeId ?? `${hostname()}-${process.pid}`,
    ...(security ? { security } : {}),
  });
  io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}
