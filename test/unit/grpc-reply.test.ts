import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Reply } from "../../src/server/grpc/reply.js";
import { sleep, until } from "../helpers/server.js";

/** A server whose every stream gets a Reply with `bound`; resolves with the first Reply once a client opens a stream. */
async function serveOneReply(bound: number) {
  let reply: Reply | undefined;
  const server = http2.createServer((req, res) => {
    req.resume();
    reply = new Reply(req.stream, res, bound);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  session.on("error", () => {});
  const stream = session.request({ ":method": "POST", ":path": "/x", "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => {});
  stream.end();
  await until("the server has the stream", () => reply !== undefined);
  return { reply: reply!, stream, close: () => (session.destroy(), server.close()) };
}

/** Sends 1 KiB envelopes until one send does not finish within 200 ms; returns how many finished. */
async function sendUntilStuck(reply: Reply, signal: AbortSignal): Promise<number> {
  const chunk = Buffer.alloc(1024, 0x61);
  for (let sent = 0; sent < 10_000; sent++) {
    const done = reply.send(chunk, signal).then(() => true, () => true);
    const finished = await Promise.race([done, sleep(200).then(() => false)]);
    if (!finished) return sent;
  }
  return -1;
}

describe("Reply: backpressure judged by bytes queued on the stream (the transport half of SEMANTICS 4.3)", function () {
  this.timeout(20_000);

  it("4.3 a client that stops reading holds at most its flow-control window plus max-stream-buffer-bytes, on every Node version", async () => {
    const { reply, stream, close } = await serveOneReply(4096);
    stream.pause();
    const controller = new AbortController();
    try {
      const sent = await sendUntilStuck(reply, controller.signal);
      // 64 KiB default window, 4 KiB bound, the send that crossed it, and HTTP/2 framing slack; Node 24's own
      // 64 KiB stream buffer alone would let ~128 sends through.
      assert.ok(sent >= 60 && sent <= 64 + 4 + 4, `${sent} KiB went out before the send waited`);
      assert.equal(reply.stuck, true);
      assert.ok(reply.stream.writableLength <= 4096 + 1024, `${reply.stream.writableLength} bytes queued`);
    } finally {
      controller.abort();
      close();
    }
  });

  it("4.3 a waiting send resumes once the client reads again, and ends when its signal aborts", async () => {
    const { reply, stream, close } = await serveOneReply(4096);
    stream.pause();
    const controller = new AbortController();
    try {
      await sendUntilStuck(reply, controller.signal);
      const waiting = reply.send(Buffer.alloc(1024), controller.signal);
      stream.on("data", () => {});
      stream.resume();
      await waiting;
      assert.equal(reply.stuck, false);
      stream.pause();
      await sendUntilStuck(reply, controller.signal);
      const aborted = reply.send(Buffer.alloc(1024), controller.signal);
      controller.abort(new Error("cancelled by the test"));
      await assert.rejects(aborted, /cancelled by the test/);
    } finally {
      close();
    }
  });
});
