import { strict as assert } from "node:assert";
import { createRequire } from "node:module";
import { run, type CliIo } from "../src/cli/main.js";

// grpc-js-xds's own bootstrap validation, so the check is the client's and not ours.
const { validateBootstrapConfig } = createRequire(import.meta.url)("@grpc/grpc-js-xds/build/src/xds-bootstrap.js") as {
  validateBootstrapConfig(obj: unknown): { xdsServers: { server_uri: string }[]; node: { locality: { zone?: string }; metadata?: Record<string, unknown> } };
};

async function roster(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = "";
  const io: CliIo = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => {} }, env, signal: new AbortController().signal };
  const code = await run(argv, io);
  return { code, stdout };
}

describe("roster xds-bootstrap", () => {
  it("prints a bootstrap grpc-js-xds accepts: every registry node in order, the zone as node.locality, the namespace as node metadata", async () => {
    const { code, stdout } = await roster(["xds-bootstrap", "--service-zone", "eu-1", "--registry", "10.0.0.5:7420,http://10.0.0.6:7420", "--namespace", "shop"]);
    assert.equal(code, 0);
    const b = validateBootstrapConfig(JSON.parse(stdout));
    assert.deepEqual(b.xdsServers.map((s) => s.server_uri), ["10.0.0.5:7420", "10.0.0.6:7420"]);
    assert.equal(b.node.locality.zone, "eu-1");
    assert.equal((JSON.parse(stdout) as { node: { metadata: Record<string, string> } }).node.metadata["roster.namespace"], "shop");
  });

  it("defaults to $ROSTER_REGISTRY, the default namespace and an empty locality (grpc-js requires the field)", async () => {
    const { stdout } = await roster(["xds-bootstrap"], { ROSTER_REGISTRY: "127.0.0.1:7420" });
    const doc = JSON.parse(stdout) as { node: { locality: object; metadata: Record<string, string> } };
    assert.deepEqual(doc.node.locality, { zone: "" });
    assert.equal(doc.node.metadata["roster.namespace"], "default");
    validateBootstrapConfig(doc);
  });
});
