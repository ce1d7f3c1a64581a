import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { conformRefusal, messageTooLarge, toConnectError } from "../../src/errors.js";

describe("conformRefusal (Connect's refusals in Roster's words)", () => {
  it("turns Connect's INTERNAL for an undecodable request into INVALID_ARGUMENT with the same message", () => {
    assert.deepEqual(conformRefusal(Code.Internal, "parse binary: premature EOF"), { code: Code.InvalidArgument, message: "parse binary: premature EOF" });
  });

  it("names max-message-bytes for each of Connect's readMaxBytes messages, as the fast path does", () => {
    const fast = messageTooLarge(100, 250).message;
    assert.equal(fast, "limit max-message-bytes=100 reached: the request message has 250 bytes");
    assert.equal(conformRefusal(Code.ResourceExhausted, "message size 250 is larger than configured readMaxBytes 100").message, fast);
    const unknownSize = "limit max-message-bytes=100 reached: the request message is larger";
    assert.equal(conformRefusal(Code.ResourceExhausted, "message size is larger than configured readMaxBytes 100").message, unknownSize);
    assert.equal(conformRefusal(Code.ResourceExhausted, "message is larger than configured readMaxBytes 100 after decompression").message, unknownSize);
  });

  it("leaves every other refusal as it is", () => {
    for (const [code, message] of [
      [Code.Internal, "internal error"],
      [Code.ResourceExhausted, "message size 9 is larger than configured writeMaxBytes 1"],
      [Code.InvalidArgument, "parse binary: x"],
    ] as const) {
      assert.deepEqual(conformRefusal(code, message), { code, message });
    }
  });

  it("applies to Connect's errors that reach toConnectError (a Heartbeat stream's messages)", () => {
    const e = toConnectError(new ConnectError("parse binary: x", Code.Internal));
    assert.deepEqual([e.code, e.rawMessage], [Code.InvalidArgument, "parse binary: x"]);
  });
});
