import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { exitCodes } from "../src/cli/io.js";
import { run, type CliIo } from "../src/cli/main.js";

// grpc-js-xds's own bootstrap validation, so the check is the client's and not ours.
const { validateBootstrapConfig } = createRequire(import.meta.url)("@grpc/grpc-js-xds/build/src/xds-bootstrap.js") as {
  validateBootstrapConfig(obj: unknown): { xdsServers: { server_uri: string }[]; node: { locality: { zone?: string }; metadata?: Record<string, unknown> } };
};

async function roster(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env, signal: new AbortController().signal };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

interface ServerEntry {
  server_uri: string;
  channel_creds: { type: string; config?: Record<string, string> }[];
  call_creds?: { type: string; config: Record<string, string> }[];
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

  describe("with TLS and a token (gRFC A65 tls channel creds, gRFC A97 jwt_token_file call creds)", () => {
    let dir: string;
    let cwd: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "roster-xds-bootstrap-"));
      for (const f of ["ca.crt", "client.crt", "client.key", "token.jwt"]) fs.writeFileSync(path.join(dir, f), "x");
      cwd = process.cwd();
      process.chdir(dir);
    });
    after(() => {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("--ca, --client-cert, --client-key and the token file become tls creds and jwt_token_file call creds, as absolute paths, with no insecure fallback", async () => {
      const { code, stdout } = await roster(["xds-bootstrap", "--registry", "10.0.0.5:7420,10.0.0.6:7420", "--ca", "ca.crt", "--client-cert", "client.crt", "--client-key", "client.key"], { ROSTER_XDS_TOKEN_FILE: "token.jwt" });
      assert.equal(code, 0);
      const servers = (JSON.parse(stdout) as { xds_servers: ServerEntry[] }).xds_servers;
      const at = (f: string) => path.join(fs.realpathSync(dir), f);
      for (const s of servers) {
        assert.deepEqual(s.channel_creds, [{ type: "tls", config: { ca_certificate_file: at("ca.crt"), certificate_file: at("client.crt"), private_key_file: at("client.key") } }]);
        assert.deepEqual(s.call_creds, [{ type: "jwt_token_file", config: { jwt_token_file: at("token.jwt") } }]);
      }
      assert.deepEqual(servers.map((s) => s.server_uri), ["10.0.0.5:7420", "10.0.0.6:7420"]);
    });

    it("an https:// node means TLS with the system roots; the TLS files fall back to ROSTER_TLS_*", async () => {
      const https = JSON.parse((await roster(["xds-bootstrap", "--registry", "https://roster.internal:7420"])).stdout) as { xds_servers: ServerEntry[] };
      assert.deepEqual(https.xds_servers[0]!.channel_creds, [{ type: "tls", config: {} }]);
      const env = JSON.parse((await roster(["xds-bootstrap", "--registry", "10.0.0.5:7420"], { ROSTER_TLS_CA: "ca.crt" })).stdout) as { xds_servers: ServerEntry[] };
      assert.equal(env.xds_servers[0]!.channel_creds[0]!.config?.ca_certificate_file, path.join(fs.realpathSync(dir), "ca.crt"));
    });

    it("refuses a token on the command line, a certificate without its key, and a file that does not exist", async () => {
      for (const argv of [["--token", "secret"], ["--client-cert", "client.crt"], ["--ca", "nosuch.crt"]]) {
        const { code, stdout, stderr } = await roster(["xds-bootstrap", "--registry", "10.0.0.5:7420", ...argv]);
        assert.equal(code, exitCodes.usage, argv.join(" "));
        assert.equal(stdout, "");
        assert.ok(!stderr.includes("secret"), "the refusal does not echo the token");
      }
    });

    it("grpc-js-xds 1.14 refuses the TLS bootstrap: it knows only insecure and google_default channel creds (README: grpc-js cannot reach a TLS node over xDS)", async () => {
      const { stdout } = await roster(["xds-bootstrap", "--registry", "10.0.0.5:7420", "--ca", "ca.crt"]);
      assert.throws(() => validateBootstrapConfig(JSON.parse(stdout)), /must contain at least one entry with a type in \[google_default,insecure\]/);
    });
  });
});
