import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { conformStatusFields, encodeGrpcMessage, isGrpcRequest, statusFields } from "../../src/server/grpc/grpc-status.js";

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

  it("rewrites Connect's status fields to the spec's encoding, and its INTERNAL for undecodable input to INVALID_ARGUMENT", () => {
    assert.deepEqual(conformStatusFields({ "grpc-status": "3", "grpc-message": encodeURIComponent("service: is required") }), { "grpc-status": "3", "grpc-message": "service: is required" });
    assert.deepEqual(conformStatusFields({ "grpc-status": "13", "grpc-message": encodeURIComponent("parse binary: premature EOF") }), { "grpc-status": "3", "grpc-message": "parse binary: premature EOF" });
    assert.deepEqual(conformStatusFields({ "grpc-status": "13", "grpc-message": "internal error" }), { "grpc-status": "13", "grpc-message": "internal error" });
    assert.deepEqual(conformStatusFields({ "grpc-status": "0" }), { "grpc-status": "0" });
    assert.deepEqual(conformStatusFields({ "grpc-status": "2", "grpc-message": "%E0%A4%A" }), { "grpc-status": "2", "grpc-message": "%E0%A4%A" }, "left alone when it is not Connect's encoding");
  });

  it("tells gRPC requests from gRPC-Web and Connect ones", () => {
    for (const t of ["application/grpc", "application/grpc+proto", "application/grpc+json", "application/grpc;charset=utf-8"]) assert.ok(isGrpcRequest(t), t);
    for (const t of [undefined, "application/grpc-web", "application/grpc-web+proto", "application/proto", "application/json", "application/grpcx"]) assert.ok(!isGrpcRequest(t), String(t));
  });
});
