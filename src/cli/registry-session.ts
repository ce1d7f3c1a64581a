import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { FilterSchema, type Filter } from "../../gen/roster/v1/registry_pb.js";
import { RegistryClient } from "../sdk/registry-client.js";
import { defaultRegistry, registryEnvVar } from "../sdk/registry-endpoints.js";
import { securityEnvVars, securityFromEnv, type ClientSecurity } from "../sdk/client-security.js";
import type { ClientOptions } from "./client-options.js";
import { messageJson } from "./format.js";
import { UsageError, type CliIo } from "./io.js";

/** Deadline of every unary call, so an unresponsive registry fails instead of hanging. */
export const callTimeoutMs = 10_000;

/** The --tag, --meta and --zone conditions of a Filter. */
export interface FilterOptions {
  readonly tag?: string[];
  readonly meta?: Record<string, string>;
  readonly zone?: string;
}

/** The registry addresses a command uses: --registry, else $ROSTER_REGISTRY, else the default port. */
export function registryAddresses(opts: ClientOptions, env: NodeJS.ProcessEnv): string {
  return opts.registry ?? env[registryEnvVar] ?? defaultRegistry;
}

/** The namespace a command uses: --namespace, else $ROSTER_NAMESPACE, else the registry's default. */
/** TLS files and token from the flags, each falling back to its ROSTER_TLS_* / ROSTER_TOKEN variable (one reader: the SDK's). */
export function securityOf(opts: ClientOptions, env: NodeJS.ProcessEnv): ClientSecurity {
  const flags: Record<string, string | undefined> = {
    [securityEnvVars.ca]: opts.ca,
    [securityEnvVars.cert]: opts.clientCert,
    [securityEnvVars.key]: opts.clientKey,
    [securityEnvVars.token]: opts.token,
  };
  const set = Object.fromEntries(Object.entries(flags).filter((e): e is [string, string] => e[1] !== undefined));
  try {
    return securityFromEnv({ ...env, ...set });
  } catch (e) {
    throw new UsageError(`TLS files: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function namespaceOf(opts: ClientOptions, env: NodeJS.ProcessEnv): string {
  return opts.namespace ?? env.ROSTER_NAMESPACE ?? "";
}

/**
 * Runs `fn` with a client for the registry nodes the options name and closes
 * its connections afterwards, so an in-process caller (a test) leaves
 * nothing open.
 */
export async function withRegistry<T>(opts: ClientOptions, io: CliIo, fn: (registry: RegistryClient, namespace: string) => Promise<T>): Promise<T> {
  let registry: RegistryClient;
  try {
    registry = new RegistryClient(registryAddresses(opts, io.env), securityOf(opts, io.env));
  } catch (e) {
    throw new UsageError(`--registry: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return await fn(registry, namespaceOf(opts, io.env));
  } finally {
    registry.close();
  }
}

/** Call options for a unary call: a deadline, and cancelled by Ctrl-C. */
export function unary(io: CliIo): { timeoutMs: number; signal: AbortSignal } {
  return { timeoutMs: callTimeoutMs, signal: io.signal };
}

/** Prints a response: its canonical JSON with --json, else the text `human` renders. */
export function print<Desc extends DescMessage>(io: CliIo, opts: ClientOptions, schema: Desc, message: MessageShape<Desc>, human: (m: MessageShape<Desc>) => string): void {
  io.stdout.write(opts.json ? `${JSON.stringify(messageJson(schema, message), null, 2)}\n` : human(message));
}

/** The Filter that --tag, --meta and --zone describe. */
export function filterFrom(opts: FilterOptions): Filter {
  return create(FilterSchema, { tags: opts.tag ?? [], metadata: opts.meta ?? {}, zone: opts.zone ?? "" });
}
