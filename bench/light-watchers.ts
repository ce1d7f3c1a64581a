/**
 * The light watcher client of the fan-out benchmark (issue 10), run as a child
 * process by bench/fanout-light.ts: `count` raw node:http2 streams over a few
 * connections that parse only gRPC frame headers and look for the expected
 * marker in the payload bytes, so one process can follow 10,000 watchers
 * without decoding any event. It reports its own CPU per event, so a reader
 * sees it is not the bound.
 *
 * Messages from the parent: { open }, then { expect } per repetition; it
 * answers { ready }, then { first, all } in epoch milliseconds.
 */
import * as http2 from "node:http2";
import { epochMs } from "./measure.ts";

/** What the parent asks for. */
export type LightRequest =
  | { readonly open: { readonly url: string; readonly path: string; readonly bodyHex: string; readonly count: number; readonly sessions: number; readonly halfClose: boolean } }
  | { readonly expect: string }
  | { readonly cpu: true };


let marker: Buffer | undefined;
let seen = 0;
let count = 0;
let first = 0;

/** Called for each complete gRPC message on a stream; true once the stream has had its first message. */
function onMessage(payload: Buffer, readyYet: boolean): void {
  if (!readyYet || marker === undefined || payload.indexOf(marker) < 0) return;
  if (seen++ === 0) first = epochMs();
  if (seen === count) {
    process.send!({ first, all: epochMs() });
    marker = undefined;
  }
}

function open(o: Extract<LightRequest, { open: unknown }>["open"]): void {
  count = o.count;
  const body = Buffer.from(o.bodyHex, "hex");
  const sessions = Array.from({ length: o.sessions }, () => {
    const s = http2.connect(o.url, { settings: { initialWindowSize: 1 << 20 } });
    s.on("error", (e) => process.send!({ error: String(e) }));
    return s;
  });
  let ready = 0;
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
        onMessage(buf.subarray(off + 5, off + 5 + len), isReady);
        if (!isReady) {
          isReady = true;
          if (++ready === o.count) process.send!({ ready });
        }
        off += 5 + len;
      }
      rest = off < buf.length ? buf.subarray(off) : undefined;
    });
  }
}

process.on("message", (m: LightRequest) => {
  if ("open" in m) open(m.open);
  else if ("expect" in m) {
    marker = Buffer.from(m.expect);
    seen = 0;
  } else {
    const u = process.cpuUsage();
    process.send!({ cpuMs: (u.user + u.system) / 1000 });
  }
});
