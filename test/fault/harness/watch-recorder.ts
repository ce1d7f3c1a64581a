import { ConnectError, type Client } from "@connectrpc/connect";
import { RemovalReason, WatchEventType, type RegistryService, type WatchResponse } from "../../../gen/roster/v1/registry_pb.js";
import { sleep } from "../../helpers/server.js";
import type { TruthChange, WatchItem, WatcherRecord } from "./checker.js";

type RegistryClient = Client<typeof RegistryService>;

/** A watcher that records every message and, like the SDK, resumes from its last revision when its stream ends. */
export interface Recorder {
  readonly name: string;
  readonly items: WatchItem[];
  /** The revision it would resume from. */
  readonly position: bigint;
  /** Stops it and returns its record, with Resolve (all statuses) from `client`. */
  finish(): Promise<WatcherRecord>;
}

const keyOf = (e: WatchResponse) => `${e.instance?.namespace}/${e.instance?.service}/${e.instance?.id}`;
const registeredAt = (e: WatchResponse) => (e.instance?.registeredAt ? Number(e.instance.registeredAt.seconds) * 1000 + Math.floor(e.instance.registeredAt.nanos / 1e6) : undefined);

/** Starts recording a watch of `service` (in the default namespace) on `client`. */
export function record(name: string, client: RegistryClient, service: string, options: { resume?: boolean } = {}): Recorder {
  const items: WatchItem[] = [];
  const ac = new AbortController();
  let position = 0n;
  let inSnapshot = false;
  const loop = (async () => {
    while (!ac.signal.aborted) {
      items.push({ kind: "open", startRevision: position, at: Date.now() });
      inSnapshot = position === 0n;
      try {
        for await (const e of client.watch({ service, startRevision: position }, { signal: ac.signal })) {
          const type = WatchEventType[e.type] as "ADDED";
          const at = Date.now();
          if (e.type === WatchEventType.RESET) inSnapshot = true;
          if (e.type === WatchEventType.SNAPSHOT_COMPLETE) inSnapshot = false;
          if (e.instance) {
            const reg = registeredAt(e);
            const reason = e.type === WatchEventType.REMOVED ? reasonOf(e.reason) : undefined;
            items.push({ kind: "event", type, revision: e.revision, key: keyOf(e), modRevision: e.instance.modRevision, ...(reg !== undefined ? { registeredAt: reg } : {}), ...(reason ? { reason } : {}), at });
          } else {
            items.push({ kind: "event", type, revision: e.revision, at });
          }
          if (!inSnapshot && e.type !== WatchEventType.RESET && e.revision > position) position = e.revision;
          if (e.type === WatchEventType.SNAPSHOT_COMPLETE) position = e.revision;
        }
        items.push({ kind: "end", code: "ok", at: Date.now() });
      } catch (err) {
        items.push({ kind: "end", code: ConnectError.from(err).code.toString(), at: Date.now() });
      }
      if (options.resume === false) return;
      await sleep(100);
    }
  })();
  return {
    name,
    items,
    get position() {
      return position;
    },
    async finish() {
      ac.abort();
      await loop;
      const res = await client.resolve({ service, allStatuses: true });
      return { name, service: `default/${service}`, items, resolved: new Map(res.instances.map((i) => [`${i.namespace}/${i.service}/${i.id}`, i.modRevision])) };
    },
  };
}

/** The changes a recorder saw after its first snapshot, as truth (for the memory store: a watch from revision 0 on a node that stays up). */
export function truthFrom(rec: { readonly name: string; readonly items: readonly WatchItem[] }): TruthChange[] {
  const out: TruthChange[] = [];
  let live = false;
  for (const i of rec.items) {
    if (i.kind !== "event") continue;
    if (i.type === "RESET") throw new Error(`the truth watcher ${rec.name} was reset: its history is not complete`);
    if (i.type === "SNAPSHOT_COMPLETE") live = true;
    if (!live || i.key === undefined) continue;
    out.push({ revision: i.revision, kind: i.type === "REMOVED" ? "delete" : "put", key: i.key, registeredAt: i.registeredAt ?? 0, at: i.at, ...(i.type === "REMOVED" ? { cause: i.reason === "expired" ? ("expired" as const) : ("deregistered" as const) } : {}) });
  }
  return out;
}

function reasonOf(r: RemovalReason): "expired" | "deregistered" | "unmatched" {
  return r === RemovalReason.EXPIRED ? "expired" : r === RemovalReason.UNMATCHED ? "unmatched" : "deregistered";
}
