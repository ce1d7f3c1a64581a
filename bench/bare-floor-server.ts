/**
 * The floor of the fan-out benchmark (issue 10): a bare node:http2 server that
 * holds every stream opened on it and, on POST /fire with a marker as body,
 * writes one prepared 125-byte gRPC frame holding the marker to each of them
 * from one loop. Nothing in Node's HTTP/2 can deliver an event for less.
 * Prints its port on stdout.
 */
import * as http2 from "node:http2";

const streams = new Set<http2.ServerHttp2Stream>();
const server = http2.createServer({ settings: { maxConcurrentStreams: 100_000 } });
const hello = Buffer.from([0, 0, 0, 0, 1, 0]);

server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  if (headers[":path"] === "/fire") {
    const parts: Buffer[] = [];
    stream.on("data", (d: Buffer) => parts.push(d));
    stream.on("end", () => {
      const frame = Buffer.alloc(125, 0x20);
      frame.writeUInt32BE(120, 1);
      frame[0] = 0;
      Buffer.concat(parts).copy(frame, 5);
      for (const s of streams) s.write(frame);
      stream.respond({ ":status": 200 });
      stream.end();
    });
    return;
  }
  streams.add(stream);
  stream.once("close", () => streams.delete(stream));
  stream.respond({ ":status": 200, "content-type": "application/grpc" });
  stream.write(hello);
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port })));
