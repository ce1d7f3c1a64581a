import type { Client } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { WatchEventType, type RegistryService, type WatchRequest, type WatchRequestSchema, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import { until } from "./server.js";

/** A Watch stream being collected in the background. */
export interface Collected {
  readonly events: WatchResponse[];
  /** PROGRESS markers, kept apart from events. */
  readonly progress: WatchResponse[];
  /** The error that ended the stream, if it ended. */
  error: unknown;
  ended: boolean;
  /** Waits until `n` events (PROGRESS markers excluded) arrived. */
  waitFor(n: number, ms?: number): Promise<WatchResponse[]>;
  stop(): Promise<void>;
}

/** Opens a Watch and collects its events until stopped. */
export function collectWatch(client: Client<typeof RegistryService>, req: MessageInitShape<typeof WatchRequestSchema> | WatchRequest): Collected {
  const ac = new AbortController();
  const c: Collected = {
    events: [],
    progress: [],
    error: undefined,
    ended: false,
    async waitFor(n, ms = 5000) {
      await until(`${n} watch events (have ${c.events.length})`, () => c.events.length >= n || c.ended, ms);
      return c.events;
    },
    async stop() {
      ac.abort();
      await done;
    },
  };
  const done = (async () => {
    try {
      for await (const ev of client.watch(req, { signal: ac.signal })) {
        (ev.type === WatchEventType.PROGRESS ? c.progress : c.events).push(ev);
      }
    } catch (e) {
      c.error = e;
    } finally {
      c.ended = true;
    }
  })();
  return c;
}
