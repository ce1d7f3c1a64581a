import { WatchEventType, WatchResponseSchema } from "../../gen/roster/v1/registry_pb.js";
import type { ClientOptions } from "./client-options.js";
import { messageJson, watchLine } from "./format.js";
import { UsageError, type CliIo } from "./io.js";
import { filterFrom, withRegistry, type FilterOptions } from "./registry-session.js";

/** The options of `watch`. */
export interface WatchOptions extends FilterOptions {
  readonly allServices?: boolean;
  readonly fromRevision?: bigint;
  readonly progress?: boolean;
}

/**
 * `watch`: prints a snapshot, then every change as it happens, one line per
 * event (one JSON object per line with --json), until Ctrl-C. A node that is
 * down passes the watch to the next address, but only before the first
 * event: after that a retry would print the snapshot twice.
 */
export async function watch(io: CliIo, opts: ClientOptions & WatchOptions, service: string | undefined): Promise<void> {
  if ((service === undefined) === !opts.allServices) throw new UsageError("watch needs a SERVICE or --all-services (not both)");
  await withRegistry(opts, io, async (registry, namespace) => {
    let received = false;
    await registry.call(
      async (client) => {
        const events = client.watch({ namespace, service: service ?? "", filter: filterFrom(opts), startRevision: opts.fromRevision ?? 0n }, { signal: io.signal });
        try {
          for await (const e of events) {
            received = true;
            if (opts.json) io.stdout.write(`${JSON.stringify(messageJson(WatchResponseSchema, e))}\n`);
            else if (e.type !== WatchEventType.PROGRESS || opts.progress) io.stdout.write(`${watchLine(e)}\n`);
          }
        } catch (e) {
          // Ctrl-C is how a watch is meant to end.
          if (!io.signal.aborted) throw e;
        }
      },
      () => !received,
    );
  });
}
