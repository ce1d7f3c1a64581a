/**
 * The grpc-js watcher client of the fan-out benchmark (issue 10), run as a
 * child process by bench/fanout-light.ts: `count` Roster Watch calls made
 * with `@grpc/grpc-js` and `@grpc/proto-loader` (what users run), every event
 * decoded into an object. It speaks the light watcher's messages
 * (bench/watcher-process.ts), so the parent drives both the same way and the
 * two rows differ only in the client; its CPU per event is printed beside the
 * server's, where it is the bound.
 */
import { rosterTarget } from "./clients.ts";
import { watcherProcess, type WatcherRequest } from "./watcher-process.ts";

/** How the parent opens the grpc-js watchers. */
export interface GrpcjsOpen {
  readonly address: string;
  readonly service: string;
  readonly count: number;
  readonly sessions: number;
}

/** What the parent asks for. */
export type GrpcjsRequest = WatcherRequest<GrpcjsOpen>;

watcherProcess<GrpcjsOpen>((o, tally) => {
  const target = rosterTarget("roster-memory", o.address, { streamChannels: o.sessions });
  for (let i = 0; i < o.count; i++) {
    target.watch(o.service, {
      onReady: () => tally.ready(),
      onAdded: (id) => {
        if (id === tally.marker) tally.arrived();
      },
      onError: (e) => process.send!({ error: String(e) }),
    });
  }
});
