import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { toConnectError } from "../../src/errors.js";
import { grpcTimeoutMs } from "../../src/server/grpc/grpc-timeout.js";

describe("grpc-timeout parsing", () => {
  it("reads every unit of the gRPC spec, rounding sub-millisecond deadlines up", () => {
    assert.equal(grpcTimeoutMs(undefined), undefined);
    assert.equal(grpcTimeoutMs("2H"), 7_200_000);
    assert.equal(grpcTimeoutMs("3M"), 180_000);
    assert.equal(grpcTimeoutMs("5S"), 5000);
    assert.equal(grpcTimeoutMs("250m"), 250);
    assert.equal(grpcTimeoutMs("1500u"), 2);
    assert.equal(grpcTimeoutMs("10n"), 1);
  });

  it("treats a deadline past what a timer can hold as none", () => {
    assert.equal(grpcTimeoutMs("99999999H"), undefined);
  });

  it("refuses a malformed value with INVALID_ARGUMENT in Connect's words", () => {
    for (const bad of ["abc", "5", "S", "123456789S", "1.5S", "-1S", "5s"]) {
      assert.throws(() => grpcTimeoutMs(bad), (e: unknown) => {
        const err = toConnectError(e);
        assert.equal(err.code, Code.InvalidArgument);
        assert.equal(err.rawMessage, `protocol error: invalid grpc timeout value: ${bad}`);
        return true;
      });
    }
  });
});
