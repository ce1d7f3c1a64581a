import { Option, type Command } from "commander";
import { clientOptions } from "./client-options.js";
import type { CliIo } from "./io.js";
import { checkOptions, collectKeyValue, collectList, parseInteger, parseRevision, parseStatus, parseStrategy, statusNames, strategyNames } from "./parse.js";
import type { ResolveOptions } from "./query-actions.js";
import type { RegisterOptions } from "./register-action.js";
import type { WatchOptions } from "./watch-action.js";
import type { XdsBootstrapOptions } from "./xds-bootstrap-action.js";

// Only the command definitions load up front; each action imports what it
// needs when it runs (the generated code, the SDK, the Connect runtime), so
// `roster --help` loads none of them.
const queries = () => import("./query-actions.js");

/** Adds --tag, --meta and --zone, the conditions of a Filter. */
function filterOptions(cmd: Command): Command {
  return cmd
    .option("-t, --tag <tag>", "only instances carrying this tag (repeatable)", collectList)
    .option("-m, --meta <key=value>", "only instances with this metadata entry (repeatable)", collectKeyValue)
    .option("-z, --zone <zone>", "only instances in this zone");
}

/**
 * The commands that talk to a registry: `ls`, `get`, `resolve`, `watch`,
 * `register`, `deregister`, `xds-bootstrap` and `status`.
 */
export function addClientCommands(program: Command, io: CliIo): void {
  program
    .command("ls")
    .description("list services and their instance counts")
    .action(async (_opts, cmd: Command) => (await queries()).ls(io, clientOptions(cmd)));

  program
    .command("get <service>")
    .description("show all instances of a service")
    .action(async (service: string, _opts, cmd: Command) => (await queries()).get(io, clientOptions(cmd), service));

  filterOptions(program.command("resolve <service>").description("list healthy instances or pick one"))
    .addOption(new Option("-s, --strategy <strategy>", `pick one instance: ${strategyNames.join(", ")}`).argParser(parseStrategy))
    .option("--prefer-zone <zone>", "prefer healthy instances in this zone, fall back to others")
    .option("-a, --all", "list instances of every status, not only healthy ones (ignored when picking)")
    .action(async (service: string, _opts, cmd: Command) => (await queries()).resolve(io, clientOptions<ResolveOptions>(cmd), service));

  filterOptions(program.command("watch [service]").description("print instances and changes live until Ctrl-C"))
    .option("--all-services", "watch every service of the namespace")
    .option("--from-revision <n>", "send the changes after revision N instead of a snapshot", parseRevision)
    .option("--progress", "also print progress markers (always included with --json)")
    .action(async (service: string | undefined, _opts, cmd: Command) => (await import("./watch-action.js")).watch(io, clientOptions<WatchOptions>(cmd), service));

  const register = program
    .command("register")
    .description("register or update an instance")
    .requiredOption("--service <name>", "service name")
    .requiredOption("--host <host>", "host name or address clients connect to")
    .requiredOption("--port <port>", "port clients connect to", parseInteger(1, 65535))
    .option("--id <id>", "instance id (default: assigned by the registry)")
    .option("--ttl <duration>", "lease, e.g. 10s: without heartbeats the instance expires after it (default: no lease)")
    .option("-m, --meta <key=value>", "metadata entry (repeatable)", collectKeyValue)
    .option("-t, --tag <tag>", "tag (repeatable, or comma-separated)", collectList)
    .option("--weight <n>", "relative weight for the weighted strategy (default 1)", parseInteger(1, 2 ** 32 - 1))
    .option("--zone <zone>", "zone, for zone filters and --prefer-zone")
    .addOption(new Option("--status <status>", `initial status: ${statusNames.join(", ")} (default healthy)`).argParser(parseStatus))
    .option("--keepalive", "keep it registered (heartbeats, reconnects, re-registers) until Ctrl-C, then deregister")
    .action(async (_opts, cmd: Command) => (await import("./register-action.js")).register(io, clientOptions<RegisterOptions>(cmd)));
  for (const o of checkOptions()) register.addOption(o);

  program
    .command("deregister <service> <id>")
    .description("remove an instance at once")
    .action(async (service: string, id: string, _opts, cmd: Command) => (await queries()).deregister(io, clientOptions(cmd), service, id));

  program
    .command("xds-bootstrap")
    .description("print a GRPC_XDS_BOOTSTRAP JSON that makes xds:///SERVICE resolve through these registry nodes")
    .option("--service-zone <zone>", "the client's zone: its instances are preferred, other zones are the fallback")
    .option("--node-id <id>", "the node id the client reports (default: host name and process id)")
    .option("--token-file <file>", "file holding the JWT the client sends to the registry (gRFC A97 call_creds; default: $ROSTER_XDS_TOKEN_FILE)")
    .action(async (_opts, cmd: Command) => (await import("./xds-bootstrap-action.js")).xdsBootstrapAction(io, clientOptions<XdsBootstrapOptions>(cmd)));

  program
    .command("status")
    .description("describe the registry node")
    .action(async (_opts, cmd: Command) => (await queries()).status(io, clientOptions(cmd)));
}
