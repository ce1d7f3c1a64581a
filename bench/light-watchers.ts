/**
 * The light watcher client of the fan-out benchmark (issue 10), run as a child
 * process by bench/fanout-light.ts: `count` raw node:http2 streams over a few
 * connections that parse only gRPC frame headers and look for the expected
 * marker in the payload bytes, so one process can follow 10,000 watchers
 * without decoding any event. It reports its own CPU per event, so a reader
 * sees it is not the bound. Messages as in bench/watcher-process.ts.
 */
import * as http2 from "node:http2";
import { watcherProcess, type WatcherRequest } from "./watcher-process.ts";

/** How the parent opens the light watchers. */
export interface LightOpen {
  readonly url: string;
  readonly path: string;
  readonly bodyHex: string;
  readonly count: number;
  readonly sessions: number;
  readonly halfClose: boolean;
}

/** What the parent asks for. */
export type LightRequest = WatcherRequest<LightOpen>;

watcherProcess<LightOpen>((o, tally) => {
  const body = Buffer.from(o.bodyHex, "hex");
  const sessions = Array.from({ length: o.sessions }, () => {
    const s = http2.connect(o.url, { settings: { initialWindowSize: 1 << 20 } });
    s.on("error", (e) => process.send!({ error: String(e) }));
    return s;
  });
  for (let i = 0; i < o.count; i++) {
    const st = sessions[i % o.sessions]!.request({ ":method": "POST", ":path": o.path, "content-type": "application/grpc", te: "trailers" });
    st.on("error", (e) => process.send!({ error: String(e) }));
    // etcd's Watch is bidirectional and ends the watch when the client half-closes; Roster's is server-streaming.
    if (o.halfClose) st.end(body);
    else st.write(body);
    let rest: Buffer | undefined;
    let isReady = false;
    st.on("data", (chunk: Buffer) => {
      const buf = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
      let off = 0;
      while (buf.length - off >= 5) {
        const len = buf.readUInt32BE(off + 1);
        if (buf.length - off - 5 < len) break;
        // The first message on a stream establishes it; only later ones can carry the marker.
        if (isReady) {
          const marker = tally.markerBytes;
          if (marker !== undefined && buf.subarray(off + 5, off + 5 + len).indexOf(marker) >= 0) tally.arrived();
        } else {
          isReady = true;
          tally.ready();
        }
        off += 5 + len;
      }
      rest = off < buf.length ? buf.subarray(off) : undefined;
    });
  }
});
