import type { Command } from "commander";
import { defaultConfig } from "../config.js";

/** The options every client command takes, before or after its name. */
export interface ClientOptions {
  /** One address or a comma-separated list, as the SDK takes them. */
  readonly registry?: string;
  readonly namespace?: string;
  readonly json?: boolean;
  /** PEM file of the roots that sign the registry's certificate. */
  readonly ca?: string;
  /** PEM file of a client certificate, for mTLS. */
  readonly clientCert?: string;
  /** PEM file of the client certificate's key. */
  readonly clientKey?: string;
  /** Bearer token. */
  readonly token?: string;
}

/**
 * Puts --registry, --namespace and --json on the program. Commander parses a
 * program's options anywhere on the line unless positional options are
 * enabled, so `roster --registry URL ls` and `roster ls --registry URL` mean
 * the same; each command reads them with `clientOptions`.
 */
export function addClientOptions(program: Command): Command {
  return program
    .option("-r, --registry <addresses>", `registry node(s), e.g. 10.0.0.5:7420,10.0.0.6:7420 (default: $ROSTER_REGISTRY or 127.0.0.1:${defaultConfig.port})`)
    .option("-n, --namespace <name>", 'namespace (default: $ROSTER_NAMESPACE or "default")')
    .option("--json", "print JSON instead of text")
    .option("--ca <file>", "PEM roots that sign the registry's certificate (default: $ROSTER_TLS_CA, else the system roots)")
    .option("--client-cert <file>", "PEM client certificate for mTLS (default: $ROSTER_TLS_CLIENT_CERT)")
    .option("--client-key <file>", "PEM key of --client-cert (default: $ROSTER_TLS_CLIENT_KEY)")
    .option("--token <token>", "bearer token (default: $ROSTER_TOKEN)");
}

/** The client options of the command that runs, wherever on the line they stood, with its own options. */
export function clientOptions<T extends object>(cmd: Command): ClientOptions & T {
  return cmd.optsWithGlobals<ClientOptions & T>();
}
