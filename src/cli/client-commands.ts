import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { Option, type Command } from "commander";
import {
  DeregisterResponseSchema,
  FilterSchema,
  GetStatusResponseSchema,
  ListServicesResponseSchema,
  RegistryService,
  ResolveResponseSchema,
  Strategy,
  type Filter,
} from "../../gen/roster/v1/registry_pb.js";
import { callTimeoutMs, defaultRegistry, registryUrl, withClient } from "./connection.js";
import { fields, instanceTable, messageJson, serviceTable } from "./format.js";
import type { CliIo } from "./io.js";
import { collectKeyValue, collectList, parseStrategy, strategyNames } from "./parse.js";

/** The options every client command shares. */
export interface ClientOptions {
  readonly registry?: string;
  readonly namespace?: string;
  readonly json?: boolean;
}

/** A client command with --registry, --namespace and --json. */
export function clientCommand(program: Command, nameAndArgs: string, description: string): Command {
  return program
    .command(nameAndArgs)
    .description(description)
    .option("-r, --registry <url>", `registry to talk to (default: $ROSTER_REGISTRY or ${defaultRegistry})`)
    .option("-n, --namespace <name>", 'namespace (default: $ROSTER_NAMESPACE or "default")')
    .option("--json", "print JSON instead of a table");
}

/** Runs `fn` with a client for the registry the options name. */
export function connect<T>(opts: ClientOptions, io: CliIo, fn: (client: Client<typeof RegistryService>, namespace: string) => Promise<T>): Promise<T> {
  return withClient(registryUrl(opts.registry, io.env), (client) => fn(client, opts.namespace ?? io.env.ROSTER_NAMESPACE ?? ""));
}

/** Prints a response: its canonical JSON with --json, else the text `human` renders. */
export function print<Desc extends DescMessage>(io: CliIo, opts: ClientOptions, schema: Desc, message: MessageShape<Desc>, human: (m: MessageShape<Desc>) => string): void {
  io.stdout.write(opts.json ? `${JSON.stringify(messageJson(schema, message), null, 2)}\n` : human(message));
}

/** Call options for a unary call: a deadline, and cancelled by Ctrl-C. */
export function unary(io: CliIo) {
  return { timeoutMs: callTimeoutMs, signal: io.signal };
}

/** Adds --tag, --meta and --zone, the conditions of a Filter. */
export function filterOptions(cmd: Command): Command {
  return cmd
    .option("-t, --tag <tag>", "only instances carrying this tag (repeatable)", collectList)
    .option("-m, --meta <key=value>", "only instances with this metadata entry (repeatable)", collectKeyValue)
    .option("-z, --zone <zone>", "only instances in this zone");
}

/** The Filter that --tag, --meta and --zone describe. */
export function filterFrom(opts: { tag?: string[]; meta?: Record<string, string>; zone?: string }): Filter {
  return create(FilterSchema, { tags: opts.tag ?? [], metadata: opts.meta ?? {}, zone: opts.zone ?? "" });
}

/** `ls`, `get` and `resolve`: reading the registry. */
export function addQueryCommands(program: Command, io: CliIo): void {
  clientCommand(program, "ls", "list services and their instance counts").action(async (opts: ClientOptions) => {
    const res = await connect(opts, io, (client, namespace) => client.listServices({ namespace }, unary(io)));
    print(io, opts, ListServicesResponseSchema, res, (r) => (r.services.length === 0 ? "no services\n" : serviceTable(r.services)));
  });

  clientCommand(program, "get <service>", "show all instances of a service").action(async (service: string, opts: ClientOptions) => {
    const res = await connect(opts, io, (client, namespace) => client.resolve({ namespace, service, allStatuses: true }, unary(io)));
    print(io, opts, ResolveResponseSchema, res, (r) => (r.instances.length === 0 ? `no instances of ${service}\n` : instanceTable(r.instances)));
  });

  filterOptions(clientCommand(program, "resolve <service>", "list healthy instances or pick one"))
    .addOption(new Option("-s, --strategy <strategy>", `pick one instance: ${strategyNames.join(", ")}`).argParser(parseStrategy))
    .option("--prefer-zone <zone>", "prefer healthy instances in this zone, fall back to others")
    .option("-a, --all", "list instances of every status, not only healthy ones (ignored when picking)")
    .action(async (service: string, opts: ClientOptions & { strategy?: Strategy; preferZone?: string; all?: boolean; tag?: string[]; meta?: Record<string, string>; zone?: string }) => {
      const res = await connect(opts, io, (client, namespace) =>
        client.resolve(
          { namespace, service, filter: filterFrom(opts), strategy: opts.strategy ?? Strategy.UNSPECIFIED, preferZone: opts.preferZone ?? "", allStatuses: opts.all ?? false },
          unary(io),
        ),
      );
      print(io, opts, ResolveResponseSchema, res, (r) => (r.instances.length === 0 ? `no matching instances of ${service}\n` : instanceTable(r.instances)));
    });
}

/** `deregister SERVICE ID`. */
export function addDeregisterCommand(program: Command, io: CliIo): void {
  clientCommand(program, "deregister <service> <id>", "remove an instance at once").action(
    async (service: string, id: string, opts: ClientOptions) => {
      const res = await connect(opts, io, (client, namespace) => client.deregister({ namespace, service, id }, unary(io)));
      print(io, opts, DeregisterResponseSchema, res, (r) => `deregistered ${service}/${id} (revision ${r.revision})\n`);
    },
  );
}

/** `status`: the registry node itself. */
export function addStatusCommand(program: Command, io: CliIo): void {
  clientCommand(program, "status", "describe the registry node").action(async (opts: ClientOptions) => {
    const res = await connect(opts, io, (client) => client.getStatus({}, unary(io)));
    print(io, opts, GetStatusResponseSchema, res, (r) =>
      fields([
        ["version", r.version],
        ["store", r.store],
        ["revision", String(r.revision)],
        ["instances", String(r.instances)],
        ["leases", String(r.leases)],
        ["watchers", String(r.watchers)],
        ["expiry protection", r.expiryProtection ? "ACTIVE (expiry suspended)" : "off"],
        ["stale", r.stale ? "yes (store unreachable, serving the last view)" : "no"],
        ["started at", r.startedAt ? timestampDate(r.startedAt).toISOString() : "-"],
      ]),
    );
  });
}
