import type { Command } from "commander";
import { WatchEventType, WatchResponseSchema } from "../../gen/roster/v1/registry_pb.js";
import { clientCommand, connect, filterFrom, filterOptions, type ClientOptions } from "./client-commands.js";
import { messageJson, watchLine } from "./format.js";
import { UsageError, type CliIo } from "./io.js";
import { parseRevision } from "./parse.js";

interface WatchOptions extends ClientOptions {
  readonly allServices?: boolean;
  readonly fromRevision?: bigint;
  readonly progress?: boolean;
  readonly tag?: string[];
  readonly meta?: Record<string, string>;
  readonly zone?: string;
}

/**
 * `watch`: prints a snapshot, then every change as it happens, one line per
 * event (one JSON object per line with --json), until Ctrl-C.
 */
export function addWatchCommand(program: Command, io: CliIo): void {
  filterOptions(clientCommand(program, "watch [service]", "print instances and changes live until Ctrl-C"))
    .option("--all-services", "watch every service of the namespace")
    .option("--from-revision <n>", "send the changes after revision N instead of a snapshot", parseRevision)
    .option("--progress", "also print progress markers (always included with --json)")
    .action(async (service: string | undefined, opts: WatchOptions) => {
      if ((service === undefined) === !opts.allServices) throw new UsageError("watch needs a SERVICE or --all-services (not both)");
      await connect(opts, io, async (client, namespace) => {
        const events = client.watch(
          { namespace, service: service ?? "", filter: filterFrom(opts), startRevision: opts.fromRevision ?? 0n },
          { signal: io.signal },
        );
        try {
          for await (const e of events) {
            if (opts.json) io.stdout.write(`${JSON.stringify(messageJson(WatchResponseSchema, e))}\n`);
            else if (e.type !== WatchEventType.PROGRESS || opts.progress) io.stdout.write(`${watchLine(e)}\n`);
          }
        } catch (e) {
          // Ctrl-C is how a watch is meant to end.
          if (!io.signal.aborted) throw e;
        }
      });
    });
}
