import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { Option, type Command } from "commander";
import {
  DeregisterResponseSchema,
  HeartbeatRequestSchema,
  InstanceStatus,
  RegisterResponseSchema,
  type HeartbeatRequest,
  type RegistryService,
} from "../../gen/roster/v1/registry_pb.js";
import { callTimeoutMs } from "./connection.js";
import { clientCommand, connect, print, unary, type ClientOptions } from "./client-commands.js";
import { instanceTable } from "./format.js";
import type { CliIo } from "./io.js";
import { collectKeyValue, collectList, parseDurationOption, parseInteger, parseStatus, statusNames } from "./parse.js";
import { durationFromMs, formatDuration } from "../core/duration.js";

interface RegisterOptions extends ClientOptions {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly id?: string;
  readonly ttl?: number;
  readonly meta?: Record<string, string>;
  readonly tag?: string[];
  readonly weight?: number;
  readonly zone?: string;
  readonly status?: InstanceStatus;
  readonly keepalive?: boolean;
}

/** Heartbeats per lease: three, so one lost beat never costs the lease. */
const beatsPerTtl = 3;

/**
 * `register`: registers (or updates) an instance and prints it. With
 * --keepalive it then holds a Heartbeat stream open until Ctrl-C and
 * deregisters on the way out, so a shell script can stand in for a service.
 */
export function addRegisterCommand(program: Command, io: CliIo): void {
  clientCommand(program, "register", "register or update an instance")
    .requiredOption("--service <name>", "service name")
    .requiredOption("--host <host>", "host name or address clients connect to")
    .requiredOption("--port <port>", "port clients connect to", parseInteger(1, 65535))
    .option("--id <id>", "instance id (default: assigned by the registry)")
    .option("--ttl <duration>", "lease, e.g. 10s: without heartbeats the instance expires after it (default: no lease)", parseDurationOption)
    .option("-m, --meta <key=value>", "metadata entry (repeatable)", collectKeyValue)
    .option("-t, --tag <tag>", "tag (repeatable, or comma-separated)", collectList)
    .option("--weight <n>", "relative weight for the weighted strategy (default 1)", parseInteger(1, 2 ** 32 - 1))
    .option("--zone <zone>", "zone, for zone filters and --prefer-zone")
    .addOption(new Option("--status <status>", `initial status: ${statusNames.join(", ")} (default healthy)`).argParser(parseStatus))
    .option("--keepalive", "heartbeat until Ctrl-C, then deregister")
    .action(async (opts: RegisterOptions) => {
      await connect(opts, io, async (client, namespace) => {
        const res = await client.register(
          {
            namespace,
            service: opts.service,
            id: opts.id ?? "",
            host: opts.host,
            port: opts.port,
            status: opts.status ?? InstanceStatus.UNSPECIFIED,
            tags: opts.tag ?? [],
            metadata: opts.meta ?? {},
            weight: opts.weight ?? 0,
            zone: opts.zone ?? "",
            ttl: opts.ttl === undefined ? undefined : durationFromMs(opts.ttl),
          },
          unary(io),
        );
        const instance = res.instance;
        print(io, opts, RegisterResponseSchema, res, (r) =>
          `${r.created ? "registered" : "updated"} ${opts.service}/${instance?.id ?? "?"} (revision ${r.revision})\n${instance ? instanceTable([instance]) : ""}`,
        );
        if (instance === undefined) return;
        if (!opts.keepalive) {
          if (opts.ttl !== undefined && !opts.json) {
            io.stderr.write(`note: the instance expires ${formatDuration(opts.ttl)} after its last heartbeat; --keepalive keeps it alive\n`);
          }
          return;
        }
        const key = { namespace: instance.namespace, service: instance.service, id: instance.id };
        if (!opts.json) {
          const every = opts.ttl === undefined ? "" : `, heartbeat every ${formatDuration(opts.ttl / beatsPerTtl)}`;
          io.stderr.write(`keeping ${key.service}/${key.id} registered${every}; Ctrl-C deregisters it\n`);
        }
        await keepAlive(client, key, opts.ttl, io.signal);
        const gone = await client.deregister(key, { timeoutMs: callTimeoutMs });
        print(io, opts, DeregisterResponseSchema, gone, (r) => `deregistered ${key.service}/${key.id} (revision ${r.revision})\n`);
      });
    });
}

/**
 * Holds a Heartbeat stream open until `stop` aborts, beating `beatsPerTtl`
 * times per lease (once at the start when there is no lease, which still
 * checks the instance exists), then ends the stream cleanly.
 */
async function keepAlive(client: Client<typeof RegistryService>, key: { namespace: string; service: string; id: string }, ttlMs: number | undefined, stop: AbortSignal): Promise<void> {
  async function* beats(): AsyncGenerator<HeartbeatRequest> {
    yield create(HeartbeatRequestSchema, key);
    while (await sleep(ttlMs === undefined ? undefined : ttlMs / beatsPerTtl, stop)) yield create(HeartbeatRequestSchema, {});
  }
  await client.heartbeat(beats());
}

/** Resolves true after `ms` (never when undefined), or false as soon as `signal` aborts. */
function sleep(ms: number | undefined, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = ms === undefined ? undefined : setTimeout(() => done(true), ms);
    const onAbort = () => done(false);
    function done(value: boolean) {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    }
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
