import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const run = promisify(execFile);
const buf = fileURLToPath(new URL("../node_modules/.bin/buf", import.meta.url));

/** `buf curl` over plain gRPC, with no schema: everything it knows comes from reflection. */
async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 30_000 });
  return stdout;
}

/** A raw grpc.reflection.v1alpha client on grpc-js: one bidi stream, one answer per request. */
function v1alphaClient(port: number) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    (m: ServerReflectionRequest) => Buffer.from(toBinary(ServerReflectionRequestSchema, m)),
    (b: Buffer) => fromBinary(ServerReflectionResponseSchema, b),
  );
  const answers: ServerReflectionResponse[] = [];
  const waiting: (() => void)[] = [];
  call.on("data", (r: ServerReflectionResponse) => {
    answers.push(r);
    waiting.shift()?.();
  });
  return {
    async ask(m: ServerReflectionRequest["messageRequest"]): Promise<ServerReflectionResponse> {
      const got = new Promise<void>((resolve) => waiting.push(resolve));
      call.write(create(ServerReflectionRequestSchema, { host: "h", messageRequest: m }));
      await got;
      return answers.at(-1)!;
    },
    close() {
      call.end();
      client.close();
    },
  };
}

function fileNames(r: ServerReflectionResponse): string[] {
  assert.equal(r.messageResponse.case, "fileDescriptorResponse", JSON.stringify(r.messageResponse));
  return (r.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
}

describe("Server reflection (grpc.reflection.v1 and v1alpha)", function () {
  this.timeout(60_000);
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(() => t.close());

  it("buf curl lists every service the node serves, reflection and xDS included", async () => {
    assert.deepEqual((await bufCurl(["--list-services", t.url])).trim().split("\n"), [
      "envoy.service.discovery.v3.AggregatedDiscoveryService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "roster.v1.RegistryService",
    ]);
    const methods = (await bufCurl(["--list-methods", t.url])).trim().split("\n");
    assert.ok(methods.includes("roster.v1.RegistryService/Watch"), methods.join(" "));
  });

  it("buf curl makes a call with a schema from reflection alone, v1 and v1alpha", async () => {
    await t.client.register({ service: "reflected", id: "a", host: "10.0.0.1", port: 80 });
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const out = await bufCurl(["--reflect-protocol", protocol, "-d", '{"service":"reflected"}', `${t.url}/roster.v1.RegistryService/Resolve`]);
      const res = JSON.parse(out) as { instances: { id: string; host: string }[] };
      assert.deepEqual(res.instances.map((i) => [i.id, i.host]), [["a", "10.0.0.1"]], protocol);
    }
  });

  it("answers a raw v1alpha client: files by name and by symbol with their transitive imports, extension queries, errors", async () => {
    const c = v1alphaClient(t.port);
    try {
      const list = await c.ask({ case: "listServices", value: "" });
      assert.equal(list.validHost, "h");
      assert.equal(list.originalRequest?.messageRequest.case, "listServices");
      assert.ok(list.messageResponse.case === "listServicesResponse" && list.messageResponse.value.service.some((s) => s.name === "roster.v1.RegistryService"));
      const withImports = ["roster/v1/registry.proto", "google/protobuf/duration.proto", "google/protobuf/timestamp.proto"];
      assert.deepEqual(fileNames(await c.ask({ case: "fileByFilename", value: "roster/v1/registry.proto" })), withImports);
      for (const symbol of ["roster.v1.RegistryService", "roster.v1.RegistryService.Watch", "roster.v1.Instance", "roster.v1.Instance.ttl", "roster.v1.Strategy", "roster.v1.Strategy.STRATEGY_RANDOM"]) {
        assert.deepEqual(fileNames(await c.ask({ case: "fileContainingSymbol", value: symbol })), withImports, symbol);
      }
      assert.deepEqual(fileNames(await c.ask({ case: "fileContainingSymbol", value: "grpc.health.v1.Health" })), ["grpc/health/v1/health.proto"]);
      const none = await c.ask({ case: "allExtensionNumbersOfType", value: "roster.v1.Instance" });
      assert.ok(none.messageResponse.case === "allExtensionNumbersResponse");
      assert.deepEqual(none.messageResponse.value.extensionNumber, []);
      for (const m of [
        { case: "fileByFilename", value: "nope.proto" },
        { case: "fileContainingSymbol", value: "nope.v1.Nope" },
        { case: "allExtensionNumbersOfType", value: "nope.v1.Nope" },
        { case: "fileContainingExtension", value: { containingType: "roster.v1.Instance", extensionNumber: 100 } },
      ] as const) {
        const r = await c.ask(m as ServerReflectionRequest["messageRequest"]);
        assert.ok(r.messageResponse.case === "errorResponse", m.case);
        assert.equal(r.messageResponse.value.errorCode, grpc.status.NOT_FOUND);
      }
    } finally {
      c.close();
    }
  });
});
