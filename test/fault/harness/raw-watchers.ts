import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { WatchRequestSchema } from "../../../gen/roster/v1/registry_pb.js";

/** gRPC framing of one message: flag byte, 4-byte length, bytes. */
export function envelope(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** Watch streams opened over raw HTTP/2 that never read a byte (flow control stalls them). */
export interface StuckWatchers {
  /** Streams the server has ended (reset or closed) so far. */
  readonly ended: number;
  close(): void;
}

/** Opens `count` Watch streams of `service` over `sessions` connections, with a receive window of `windowBytes` per stream, and never reads them. */
export function openStuckWatchers(url: string, service: string, count: number, sessions = 10, windowBytes = 1024): StuckWatchers {
  const body = envelope(toBinary(WatchRequestSchema, create(WatchRequestSchema, { service })));
  const conns = Array.from({ length: sessions }, () => {
    const s = http2.connect(url, { settings: { initialWindowSize: windowBytes } });
    s.on("error", () => {});
    return s;
  });
  let ended = 0;
  for (let i = 0; i < count; i++) {
    const st = conns[i % sessions]!.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Watch", "content-type": "application/grpc", te: "trailers" });
    st.on("error", () => {});
    st.once("close", () => ended++);
    st.pause();
    st.end(body);
  }
  return {
    get ended() {
      return ended;
    },
    close: () => conns.forEach((c) => c.destroy()),
  };
}
