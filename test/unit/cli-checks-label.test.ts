import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { CheckResultSchema, CheckStatus, HealthCheckSchema, InstanceSchema } from "../../gen/roster/v1/registry_pb.js";
import { checksLabel } from "../../src/cli/format.js";

describe("the CHECKS column of `roster get` (checksLabel)", () => {
  it("is '-' for an instance without checks", () => {
    assert.equal(checksLabel(create(InstanceSchema, {})), "-");
  });

  it("names each declared check in order with its committed status, and 'pending' for one with no result yet", () => {
    const i = create(InstanceSchema, {
      checks: [create(HealthCheckSchema, { name: "http" }), create(HealthCheckSchema, { name: "tcp" }), create(HealthCheckSchema, { name: "grpc" })],
      checkResults: [create(CheckResultSchema, { name: "tcp", status: CheckStatus.PASSING }), create(CheckResultSchema, { name: "http", status: CheckStatus.FAILING })],
    });
    assert.equal(checksLabel(i), "http:failing,tcp:passing,grpc:pending");
  });
});
