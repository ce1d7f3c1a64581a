/**
 * The child's side of a watcher client process (bench/light-watchers.ts,
 * bench/grpcjs-watchers.ts), driven by bench/light-client.ts: the parent sends
 * { open }, then { expect: marker } per repetition, and { cpu } to read the
 * process's CPU; the child answers { ready } once every watcher is
 * established, then { first, all } in epoch milliseconds once the first and
 * the last watcher have seen the marker. A client only opens its watchers and
 * reports what they see.
 */
import { epochMs } from "./measure.ts";

/** The messages every watcher process takes, with its own `open`. */
export type WatcherRequest<O> = { readonly open: O } | { readonly expect: string } | { readonly cpu: true };

/** What a client reports to while its watchers run. */
export interface Tally {
  /** The marker of the current repetition (as a string and as bytes), undefined between repetitions. */
  readonly marker: string | undefined;
  readonly markerBytes: Buffer | undefined;
  /** One watcher established its watch. */
  ready(): void;
  /** One watcher saw the current marker. */
  arrived(): void;
}

/** Serves the parent's messages; `open` starts `o.count` watchers that report to the tally. */
export function watcherProcess<O extends { readonly count: number }>(open: (o: O, tally: Tally) => void): void {
  let marker: string | undefined;
  let markerBytes: Buffer | undefined;
  let count = 0;
  let established = 0;
  let seen = 0;
  let first = 0;
  const tally: Tally = {
    get marker() {
      return marker;
    },
    get markerBytes() {
      return markerBytes;
    },
    ready() {
      if (++established === count) process.send!({ ready: established });
    },
    arrived() {
      if (marker === undefined) return;
      if (seen++ === 0) first = epochMs();
      if (seen === count) {
        process.send!({ first, all: epochMs() });
        marker = markerBytes = undefined;
      }
    },
  };
  process.on("message", (m: WatcherRequest<O>) => {
    if ("open" in m) {
      count = m.open.count;
      open(m.open, tally);
    } else if ("expect" in m) {
      marker = m.expect;
      markerBytes = Buffer.from(m.expect);
      seen = 0;
    } else {
      const u = process.cpuUsage();
      process.send!({ cpuMs: (u.user + u.system) / 1000 });
    }
  });
}
