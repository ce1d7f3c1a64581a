import { create } from "@bufbuild/protobuf";
import { InstanceStatus, RegisterResponseSchema, type RegisterResponse } from "../../gen/roster/v1/registry_pb.js";
import { durationFromMs, formatDuration, parseDuration } from "../core/duration.js";
import type { InstanceRecord, StatusName } from "../core/types.js";
import { checkMessage, Registrar, type CheckDeclaration, type RegistrationSpec } from "../sdk/registrar.js";
import { instanceToProto } from "../server/convert.js";
import type { ClientOptions } from "./client-options.js";
import { grpcCodeName } from "./failure.js";
import { instanceTable, messageJson } from "./format.js";
import { untilAborted, UsageError, type CliIo } from "./io.js";
import { callTimeoutMs, namespaceOf, securityOf, print, registryAddresses, unary, withRegistry } from "./registry-session.js";

/** The options of `register`. */
export interface RegisterOptions {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly id?: string;
  /** As typed: parsed when the command runs, so defining the command loads no protobuf runtime. */
  readonly ttl?: string;
  readonly meta?: Record<string, string>;
  readonly tag?: string[];
  readonly weight?: number;
  readonly zone?: string;
  readonly status?: StatusName;
  readonly keepalive?: boolean;
  /** Active checks (--check), and the timing they share; durations as typed. */
  readonly check?: CheckDeclaration[];
  readonly checkInterval?: string;
  readonly checkTimeout?: string;
  readonly checkFailures?: number;
  readonly checkSuccesses?: number;
  readonly checkInitialDelay?: string;
  readonly checkDeregisterAfter?: string;
}

/**
 * `register`: registers (or updates) an instance and prints it. With
 * --keepalive the SDK's Registrar then keeps it registered until Ctrl-C (it
 * heartbeats, reconnects with backoff, fails over along the address list and
 * registers again when the registry forgot the instance, SEMANTICS 2.4) and
 * deregisters it on the way out, so a shell script can stand in for a service.
 */
export async function register(io: CliIo, opts: ClientOptions & RegisterOptions): Promise<void> {
  const spec: RegistrationSpec = {
    namespace: namespaceOf(opts, io.env),
    service: opts.service,
    ...(opts.id === undefined ? {} : { id: opts.id }),
    host: opts.host,
    port: opts.port,
    status: opts.status === undefined ? InstanceStatus.HEALTHY : InstanceStatus[opts.status.toUpperCase() as Uppercase<StatusName>],
    tags: opts.tag ?? [],
    metadata: opts.meta ?? {},
    weight: opts.weight ?? 0,
    zone: opts.zone ?? "",
    ttlMs: durationOption("--ttl", opts.ttl),
    checks: checksOption(opts),
  };
  if (opts.keepalive) return keepRegistered(io, opts, spec);
  const res = await withRegistry(opts, io, (registry) =>
    registry.call((c) =>
      c.register(
        {
          namespace: spec.namespace ?? "",
          service: spec.service,
          id: spec.id ?? "",
          host: spec.host,
          port: spec.port,
          status: spec.status ?? InstanceStatus.HEALTHY,
          tags: [...(spec.tags ?? [])],
          metadata: { ...spec.metadata },
          weight: spec.weight ?? 0,
          zone: spec.zone ?? "",
          ttl: durationFromMs(spec.ttlMs ?? 0),
          checks: (spec.checks ?? []).map(checkMessage),
        },
        unary(io),
      ),
    ),
  );
  print(io, opts, RegisterResponseSchema, res, registeredText);
  if (spec.ttlMs && !opts.json) io.stderr.write(`note: the instance expires ${formatDuration(spec.ttlMs)} after its last heartbeat; --keepalive keeps it alive\n`);
}

async function keepRegistered(io: CliIo, opts: ClientOptions, spec: RegistrationSpec): Promise<void> {
  let registrar: Registrar;
  try {
    registrar = new Registrar({ registry: registryAddresses(opts, io.env), callTimeoutMs, security: securityOf(opts, io.env) });
  } catch (e) {
    throw new UsageError(`--registry: ${e instanceof Error ? e.message : String(e)}`);
  }
  let failed = false;
  registrar.on("registered", (_r, instance, created) => {
    const res = registeredResponse(instance, created);
    if (opts.json) io.stdout.write(`${JSON.stringify(messageJson(RegisterResponseSchema, res))}\n`);
    else io.stdout.write(registeredText(res));
  });
  registrar.on("lost", (r, e) => io.stderr.write(`note: the registry lost ${r.key.service}/${r.key.id} (${grpcCodeName(e.code)}); registering again\n`));
  registrar.on("reconnecting", (_r, info) =>
    io.stderr.write(`note: ${info.registry}: ${grpcCodeName(info.error.code)}: ${info.error.message}; retrying in ${formatDuration(info.delayMs)}\n`),
  );
  registrar.on("error", (_r, e) => {
    failed = true;
    io.stderr.write(`error: ${grpcCodeName(e.code)}: ${e.message}\n`);
  });
  // Ctrl-C while no node has answered yet gives up the first registration too.
  const stop = () => void registrar.close();
  io.signal.addEventListener("abort", stop, { once: true });
  try {
    const r = await registrar.register(spec);
    if (!opts.json) io.stderr.write(`keeping ${r.key.service}/${r.key.id} registered${spec.ttlMs ? ` (lease ${formatDuration(spec.ttlMs)})` : ""}; Ctrl-C deregisters it\n`);
    await untilAborted(io.signal);
    await registrar.close();
    if (!opts.json && !failed) io.stdout.write(`deregistered ${r.key.service}/${r.key.id}\n`);
  } finally {
    io.signal.removeEventListener("abort", stop);
    await registrar.close();
  }
}

/** A duration option in milliseconds; 0 when not given (no lease, or the registry's default). */
function durationOption(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  try {
    return parseDuration(value);
  } catch (e) {
    throw new UsageError(`option '${flag} <duration>' argument '${value}' is invalid. ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Every --check with the shared --check-* timing applied; the timing options alone are a mistake worth saying. */
function checksOption(opts: RegisterOptions): CheckDeclaration[] {
  const timing = {
    intervalMs: durationOption("--check-interval", opts.checkInterval),
    timeoutMs: durationOption("--check-timeout", opts.checkTimeout),
    failuresBeforeUnhealthy: opts.checkFailures ?? 0,
    successesBeforeHealthy: opts.checkSuccesses ?? 0,
    initialDelayMs: durationOption("--check-initial-delay", opts.checkInitialDelay),
    deregisterAfterMs: durationOption("--check-deregister-after", opts.checkDeregisterAfter),
  };
  const checks = opts.check ?? [];
  if (checks.length === 0 && Object.values(timing).some((v) => v !== 0)) throw new UsageError("the --check-* options apply to checks: add at least one --check");
  return checks.map((c) => ({ ...c, ...timing }));
}

/** The Register answer the Registrar got, in the form a plain `register` prints. */
function registeredResponse(instance: InstanceRecord, created: boolean): RegisterResponse {
  return create(RegisterResponseSchema, { instance: instanceToProto(instance), created, revision: instance.modRevision });
}

function registeredText(r: RegisterResponse): string {
  const i = r.instance;
  return `${r.created ? "registered" : "updated"} ${i?.service ?? "?"}/${i?.id ?? "?"} (revision ${r.revision})\n${i ? instanceTable([i]) : ""}`;
}
