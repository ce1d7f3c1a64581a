import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { WatchEventType, WatchResponseSchema, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import { limitReached } from "../../src/errors.js";
import { callContextValues, type CallContext } from "../../src/server/call-context.js";
import { GrpcFastPath } from "../../src/server/grpc/fast-path.js";
import { RequestByteBudget } from "../../src/server/grpc/request-byte-budget.js";
import { registerRegistryService, type RegistryHandlers } from "../../src/server/registry-service.js";
import { sleep, until } from "../helpers/server.js";

/** A Watch handler that produces large events as fast as it is asked (or one per `paceMs`), throws `state.fail` once set, and records its call and its end. */
function endlessWatch(options: { paceMs?: number } = {}) {
  const state = { call: undefined as CallContext | undefined, yielded: 0, finished: false, fail: undefined as Error | undefined };
  const event: WatchResponse = create(WatchResponseSchema, { type: WatchEventType.PROGRESS, revision: 1n, instance: { id: "x".repeat(100), metadata: { big: "y".repeat(8000) } } });
  const unused = () => Promise.reject(new Error("not part of this test"));
  const handlers: RegistryHandlers = {
    register: unused,
    deregister: unused,
    heartbeat: unused,
    resolve: unused,
    listServices: unused,
    getStatus: unused,
    async *watch(_req, call: CallContext) {
      state.call = call;
      try {
        for (;;) {
          if (state.fail) throw state.fail;
          state.yielded++;
          yield event;
          if (options.paceMs) await sleep(options.paceMs);
          if (call.signal.aborted) return;
        }
      } finally {
        state.finished = true;
      }
    },
  };
  return { state, handlers };
}

async function serve(handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void) {
  const server = http2.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Opens a Watch whose client never reads; resolves with the stream's reset code once it closes. */
function stuckWatch(url: string, contentType: string) {
  const session = http2.connect(url);
  const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Watch", "content-type": contentType, te: "trailers" });
  req.end(Buffer.from([0, 0, 0, 0, 0]));
  req.pause();
  const closed = new Promise<number>((r) => req.once("close", () => r(req.rstCode ?? -1)));
  req.on("error", () => {});
  return { closed, session };
}

/** Waits until the handler stops producing: the transport is waiting for the client to read. */
async function untilStuck(state: { yielded: number }) {
  let last = -1;
  await until("the response to back up", async () => {
    const now = state.yielded;
    const still = now === last && now > 0;
    last = now;
    await sleep(100);
    return still;
  });
}

describe("Ending a call whose client stopped reading (the transport half of SEMANTICS 4.3)", function () {
  this.timeout(10_000);

  it("the fast path resets the stream with ENHANCE_YOUR_CALM at once, drops what is buffered and ends the handler", async () => {
    const { state, handlers } = endlessWatch();
    const fast = new GrpcFastPath(handlers, 1 << 20, new RequestByteBudget(1 << 24));
    const { server, url } = await serve((req, res) => assert.ok(fast.handle(req, res)));
    const w = stuckWatch(url, "application/grpc");
    await untilStuck(state);
    const start = Date.now();
    state.call!.end(limitReached("max-watch-queue", 1, "the watcher fell behind; resume with start_revision=1"));
    assert.equal(await w.closed, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await until("the handler ends", () => state.finished, 1000);
    assert.ok(Date.now() - start < 1000);
    w.session.destroy();
    server.close();
  });

  it("Connect (gRPC-Web, Connect protocol, compressed gRPC) resets the stream the same way and ends the handler", async () => {
    const { state, handlers } = endlessWatch();
    const connect = connectNodeAdapter({ routes: (router) => registerRegistryService(router, handlers), contextValues: callContextValues });
    const { server, url } = await serve(connect);
    const w = stuckWatch(url, "application/grpc-web+proto");
    await untilStuck(state);
    state.call!.end(limitReached("max-watch-queue", 1));
    assert.equal(await w.closed, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await until("the handler ends", () => state.finished, 1000);
    w.session.destroy();
    server.close();
  });

  it("does nothing to a call that is not stuck: the producer's own error then ends it with trailers naming the resume revision", async () => {
    const { state, handlers } = endlessWatch({ paceMs: 20 });
    const fast = new GrpcFastPath(handlers, 1 << 20, new RequestByteBudget(1 << 24));
    const { server, url } = await serve((req, res) => assert.ok(fast.handle(req, res)));
    const session = http2.connect(url);
    const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Watch", "content-type": "application/grpc", te: "trailers" });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    req.on("data", () => {});
    const trailers = new Promise<http2.IncomingHttpHeaders>((r) => req.once("trailers", r));
    await until("events flow", () => state.yielded > 3);
    const reason = limitReached("max-watch-queue", 1, "the watcher fell behind; resume with start_revision=7");
    state.call!.end(reason);
    await sleep(60);
    assert.equal(req.closed, false, "a stream that is not stuck is left to its producer");
    state.fail = reason;
    const t = await trailers;
    assert.equal(t["grpc-status"], "8");
    assert.equal(t["grpc-message"], "limit max-watch-queue=1 reached: the watcher fell behind; resume with start_revision=7");
    await until("the handler ends", () => state.finished, 1000);
    session.destroy();
    server.close();
  });
});
