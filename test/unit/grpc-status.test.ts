import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeGrpcMessage, statusFields } from "../../src/server/grpc/grpc-status.js";

describe("gRPC status encoding", () => {
  it("percent-encodes only bytes outside printable ASCII, and %, as the gRPC spec says", () => {
    assert.equal(encodeGrpcMessage("service: is required"), "service: is required");
    assert.equal(encodeGrpcMessage("instance default/svc/x not found"), "instance default/svc/x not found");
    assert.equal(encodeGrpcMessage("a=b&c?d#e'f"), "a=b&c?d#e'f");
    assert.equal(encodeGrpcMessage("50% off"), "50%25 off");
    assert.equal(encodeGrpcMessage("line\nbreak\ttab"), "line%0Abreak%09tab");
    assert.equal(encodeGrpcMessage("é💥"), "%C3%A9%F0%9F%92%A5");
    assert.equal(encodeGrpcMessage("~\x7f"), "~%7F");
  });

  it("reads back the same through decodeURI (grpc-js) and decodeURIComponent (Connect)", () => {
    for (const m of ["service: is required", "id: x/y=z; 100% é\n", "a,b+c$d@e"]) {
      assert.equal(decodeURI(encodeGrpcMessage(m)), m);
      assert.equal(decodeURIComponent(encodeGrpcMessage(m)), m);
    }
  });

  it("builds the status fields of a call's end", () => {
    assert.deepEqual(statusFields(undefined), { "grpc-status": "0" });
    assert.deepEqual(statusFields(new ConnectError("service: is required", Code.InvalidArgument)), { "grpc-status": "3", "grpc-message": "service: is required" });
    assert.deepEqual(statusFields(new ConnectError("", Code.NotFound)), { "grpc-status": "5" });
  });
});
