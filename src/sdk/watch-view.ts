import { RemovalReason, WatchEventType, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import type { InstanceRecord } from "../core/types.js";
import { instanceFromProto } from "./instance-from-proto.js";

/** One change that became visible in a view. */
export interface ViewChange {
  readonly kind: "added" | "updated" | "removed";
  readonly instance: InstanceRecord;
  /** The revision of the change (of the snapshot, for changes found by a rebuild). */
  readonly revision: bigint;
  /** Why a removed instance left; UNSPECIFIED when a rebuild found it gone. */
  readonly reason: RemovalReason;
}

/**
 * The local copy of one watched service, fed Watch events in stream order.
 *
 * Readers only ever see the committed map. A snapshot (the first one, or the
 * one after a RESET) is built in a staging map and swapped in whole at
 * SNAPSHOT_COMPLETE, so no reader sees a half-built or empty list in between;
 * the swap is reported as the difference between the two lists, so a
 * consumer of changes stays consistent with the list. Live events at or
 * below the view's revision are ignored, which makes a resumed stream that
 * overlaps what was already applied harmless.
 */
export class WatchView {
  #committed = new Map<string, InstanceRecord>();
  #staging: Map<string, InstanceRecord> | undefined;
  #list: readonly InstanceRecord[] = [];
  #revision = 0n;
  #synced = false;

  /** The revision the committed list reflects. */
  get revision(): bigint {
    return this.#revision;
  }

  /** True once a snapshot has been committed: only then can a stream resume from `revision`. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The committed instances, ordered by id (stable, so round robin rotates fairly). */
  get list(): readonly InstanceRecord[] {
    return this.#list;
  }

  /** Starts a rebuild: the next events up to SNAPSHOT_COMPLETE are a snapshot. */
  beginSnapshot(): void {
    this.#staging = new Map();
  }

  /** Drops a rebuild the stream did not finish; the committed list stays. */
  abortSnapshot(): void {
    this.#staging = undefined;
  }

  /** Applies one event; returns the changes readers can now see. */
  apply(ev: WatchResponse): ViewChange[] {
    switch (ev.type) {
      case WatchEventType.RESET:
        this.beginSnapshot();
        return [];
      case WatchEventType.SNAPSHOT_COMPLETE:
        return this.#commit(ev.revision);
      case WatchEventType.PROGRESS:
        if (this.#staging === undefined && this.#synced && ev.revision > this.#revision) this.#revision = ev.revision;
        return [];
      case WatchEventType.ADDED:
      case WatchEventType.UPDATED:
      case WatchEventType.REMOVED:
        return this.#change(ev);
      default:
        return [];
    }
  }

  #change(ev: WatchResponse): ViewChange[] {
    if (ev.instance === undefined) return [];
    const instance = instanceFromProto(ev.instance);
    if (this.#staging !== undefined) {
      if (ev.type !== WatchEventType.REMOVED) this.#staging.set(instance.id, instance);
      else this.#staging.delete(instance.id);
      return [];
    }
    if (ev.revision <= this.#revision) return [];
    this.#revision = ev.revision;
    const had = this.#committed.has(instance.id);
    if (ev.type === WatchEventType.REMOVED) {
      if (!had) return [];
      this.#committed.delete(instance.id);
      this.#relist();
      return [{ kind: "removed", instance, revision: ev.revision, reason: ev.reason }];
    }
    this.#committed.set(instance.id, instance);
    this.#relist();
    return [{ kind: had ? "updated" : "added", instance, revision: ev.revision, reason: RemovalReason.UNSPECIFIED }];
  }

  #commit(revision: bigint): ViewChange[] {
    const next = this.#staging;
    if (next === undefined) return [];
    this.#staging = undefined;
    const changes: ViewChange[] = [];
    for (const [id, old] of this.#committed) {
      if (!next.has(id)) changes.push({ kind: "removed", instance: old, revision, reason: RemovalReason.UNSPECIFIED });
    }
    for (const [id, inst] of next) {
      const old = this.#committed.get(id);
      if (old === undefined) changes.push({ kind: "added", instance: inst, revision, reason: RemovalReason.UNSPECIFIED });
      else if (!sameVersion(old, inst)) {
        changes.push({ kind: "updated", instance: inst, revision, reason: RemovalReason.UNSPECIFIED });
      }
    }
    this.#committed = next;
    this.#revision = revision;
    this.#synced = true;
    this.#relist();
    return changes;
  }

  #relist(): void {
    this.#list = Object.freeze([...this.#committed.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  }
}

// Revisions alone can coincide across a restarted memory registry, so the fields a caller routes by are compared too.
function sameVersion(a: InstanceRecord, b: InstanceRecord): boolean {
  return a.modRevision === b.modRevision && a.createRevision === b.createRevision && a.status === b.status && a.host === b.host && a.port === b.port;
}
