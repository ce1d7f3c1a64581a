import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { toConnectError } from "../../src/errors.js";
import { EnvelopeReader } from "../../src/server/grpc/envelope-reader.js";
import { RequestByteBudget } from "../../src/server/grpc/request-byte-budget.js";

function envelope(body: Buffer, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function refused(code: Code, mention: string) {
  return (e: unknown) => {
    const err = toConnectError(e);
    assert.equal(err.code, code, err.message);
    assert.ok(err.rawMessage.includes(mention), err.rawMessage);
    return true;
  };
}

describe("gRPC envelope reader", () => {
  it("splits messages however the body is chunked, byte by byte included", () => {
    const bodies = [Buffer.from("hello"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("end")];
    const wire = Buffer.concat(bodies.map((b) => envelope(b)));
    for (const size of [1, 3, 5, 6, 4096, wire.length]) {
      const r = new EnvelopeReader(1 << 20);
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) got.push(...r.push(wire.subarray(i, i + size)).map((e) => e.data));
      assert.deepEqual(got, bodies, `chunks of ${size}`);
      assert.equal(r.partial, false);
      assert.equal(r.held, 0);
      r.finish();
    }
  });

  it("keeps each message's flags", () => {
    const r = new EnvelopeReader(100);
    assert.deepEqual(r.push(Buffer.concat([envelope(Buffer.from("a"), 1), envelope(Buffer.from("b"))])).map((e) => e.flags), [1, 0]);
  });

  it("refuses a message over max-message-bytes from its length prefix, before its bytes arrive", () => {
    const r = new EnvelopeReader(1000);
    const head = envelope(Buffer.alloc(1001)).subarray(0, 5);
    assert.throws(() => r.push(head), refused(Code.ResourceExhausted, "max-message-bytes=1000"));
  });

  it("refuses a body that ends inside a message", () => {
    const r = new EnvelopeReader(1000);
    r.push(envelope(Buffer.from("abcdef")).subarray(0, 8));
    assert.equal(r.partial, true);
    assert.throws(() => r.finish(), refused(Code.InvalidArgument, "incomplete envelope"));
  });

  it("books held bytes on the connection's budget and refuses past max-buffered-request-bytes-per-connection", () => {
    const budget = new RequestByteBudget(10_000);
    const conn = {};
    const a = new EnvelopeReader(8_000, budget.account(conn));
    const b = new EnvelopeReader(8_000, budget.account(conn));
    a.push(envelope(Buffer.alloc(7_000)).subarray(0, 6_000));
    assert.equal(budget.heldBy(conn), 5_995, "the message bytes held; its prefix is read");
    assert.throws(() => b.push(envelope(Buffer.alloc(7_000)).subarray(0, 5_000)), refused(Code.ResourceExhausted, "max-buffered-request-bytes-per-connection=10000"));
    // Another connection has its own share.
    new EnvelopeReader(8_000, budget.account({})).push(envelope(Buffer.alloc(7_000)).subarray(0, 5_000));
    a.release();
    assert.equal(budget.heldBy(conn), 0);
    b.push(envelope(Buffer.alloc(7_000)).subarray(0, 5_000));
    assert.equal(budget.heldBy(conn), b.held);
  });

  it("gives a finished message's bytes back to the budget when it is handed out", () => {
    const budget = new RequestByteBudget(100);
    const conn = {};
    const r = new EnvelopeReader(100, budget.account(conn));
    for (let i = 0; i < 50; i++) assert.equal(r.push(envelope(Buffer.alloc(60))).length, 1);
    assert.equal(budget.heldBy(conn), 0);
  });
});
