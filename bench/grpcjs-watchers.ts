/**
 * The grpc-js watcher client of the fan-out benchmark (issue 10), run as a
 * child process by bench/fanout-light.ts: `count` Roster Watch calls made
 * with `@grpc/grpc-js` and `@grpc/proto-loader` (what users run), every event
 * decoded into an object. It speaks the light watcher's protocol
 * (bench/light-watchers.ts: { open }, { expect }, { cpu }), so the parent
 * drives both the same way and the two rows differ only in the client; its CPU
 * per event is printed beside the server's, where it is the bound.
 */
import { rosterTarget } from "./clients.ts";
import { epochMs } from "./measure.ts";

/** What the parent asks for. */
export type GrpcjsRequest =
  | { readonly open: { readonly address: string; readonly service: string; readonly count: number; readonly sessions: number } }
  | { readonly expect: string }
  | { readonly cpu: true };

let marker: string | undefined;
let seen = 0;
let count = 0;
let first = 0;

function onAdded(id: string): void {
  if (id !== marker) return;
  if (seen++ === 0) first = epochMs();
  if (seen === count) {
    process.send!({ first, all: epochMs() });
    marker = undefined;
  }
}

function open(o: Extract<GrpcjsRequest, { open: unknown }>["open"]): void {
  count = o.count;
  const target = rosterTarget("roster-memory", o.address, { streamChannels: o.sessions });
  let ready = 0;
  for (let i = 0; i < o.count; i++) {
    target.watch(o.service, {
      onReady: () => {
        if (++ready === o.count) process.send!({ ready });
      },
      onAdded,
      onError: (e) => process.send!({ error: String(e) }),
    });
  }
}

process.on("message", (m: GrpcjsRequest) => {
  if ("open" in m) open(m.open);
  else if ("expect" in m) {
    marker = m.expect;
    seen = 0;
  } else {
    const u = process.cpuUsage();
    process.send!({ cpuMs: (u.user + u.system) / 1000 });
  }
});
