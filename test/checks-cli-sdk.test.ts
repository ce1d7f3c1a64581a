import { strict as assert } from "node:assert";
import { CheckStatus, InstanceStatus } from "../gen/roster/v1/registry_pb.js";
import { run, type CliIo } from "../src/cli/main.ts";
import { Registrar } from "../src/sdk/registrar.js";
import { startHttpTarget, startTcpTarget, type HttpTarget } from "./helpers/check-targets.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";

async function roster(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const io: CliIo = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {}, signal: new AbortController().signal };
  const code = await run(argv, io);
  return { code, ...out };
}

describe("checks declared by the CLI and the SDK (SEMANTICS 6.2)", function () {
  this.timeout(20_000);
  let t: TestServer;
  let target: HttpTarget;
  before(async () => {
    t = await startTestServer({ limits: { minCheckIntervalMs: 100 } });
    target = await startHttpTarget();
  });
  after(async () => {
    await target.close();
    await t.close();
  });

  it("6.2 `roster register --check` declares checks, and `roster get --json` shows each check's result, output and time", async () => {
    const tcp = await startTcpTarget();
    const reg = await roster([
      "register", "--registry", t.url, "--json", "--service", "cli", "--id", "a", "--host", "127.0.0.1", "--port", String(target.port),
      "--check", "http:/healthz", "--check", `tcp@${tcp.port}`, "--check-interval", "100ms", "--check-timeout", "80ms", "--check-failures", "2", "--check-successes", "1",
    ]);
    // Another port is refused: the registry is not started with check-any-port.
    assert.equal(reg.code, 1, reg.stdout);
    assert.match(reg.stderr, /checks\[1\]\.port/);
    await tcp.close();
    const ok = await roster([
      "register", "--registry", t.url, "--json", "--service", "cli", "--id", "a", "--host", "127.0.0.1", "--port", String(target.port),
      "--check", "http:/healthz", "--check", "tcp", "--check-interval", "100ms", "--check-timeout", "80ms", "--check-failures", "2", "--check-successes", "1",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const declared = JSON.parse(ok.stdout).instance.checks;
    assert.deepEqual(declared.map((c: { name: string; interval: string; failuresBeforeUnhealthy: number }) => [c.name, c.interval, c.failuresBeforeUnhealthy]), [["http", "0.100s", 2], ["tcp", "0.100s", 2]]);
    target.mode = "fail";
    let shown: { status: string; checkResults: { name: string; status: string; output: string; checkedAt: string }[] } | undefined;
    await until("get shows the failing check", async () => {
      const get = await roster(["get", "--registry", t.url, "--json", "cli"]);
      shown = JSON.parse(get.stdout).instances[0];
      return shown?.status === "INSTANCE_STATUS_UNHEALTHY";
    });
    const http = shown!.checkResults.find((r) => r.name === "http")!;
    assert.equal(http.status, "CHECK_STATUS_FAILING");
    assert.equal(http.output, "HTTP 503: database unreachable");
    assert.ok(Date.now() - Date.parse(http.checkedAt) < 10_000, "checkedAt is the time of the probe");
    assert.equal(shown!.checkResults.find((r) => r.name === "tcp")!.status, "CHECK_STATUS_PASSING");
    // The table says the same in its CHECKS column.
    const table = await roster(["get", "--registry", t.url, "cli"]);
    assert.match(table.stdout, /^ID\s+ADDRESS\s+STATUS\s+CHECKS\s/);
    assert.match(table.stdout, /\na\s+\S+\s+unhealthy\s+http:failing,tcp:passing\s/);
    target.mode = "ok";
    assert.equal((await roster(["deregister", "--registry", t.url, "cli", "a"])).code, 0);
  });

  it("`roster register` refuses --check-* timing without a --check, and a malformed --check", async () => {
    const lone = await roster(["register", "--registry", t.url, "--service", "cli", "--host", "h", "--port", "1", "--check-interval", "5s"]);
    assert.equal(lone.code, 2);
    assert.match(lone.stderr, /add at least one --check/);
    const bad = await roster(["register", "--registry", t.url, "--service", "cli", "--host", "h", "--port", "1", "--check", "ftp:/x"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /KIND\[@PORT\]\[:ARG\]/);
  });

  it("6.2 the SDK's Registrar passes checks through: an instance with no lease and an HTTP check goes UNHEALTHY and back", async () => {
    const registrar = new Registrar({ registry: [t.url] });
    try {
      const r = await registrar.register({ service: "sdk", host: "127.0.0.1", port: target.port, ttlMs: 0, checks: [{ kind: "http", path: "/healthz", intervalMs: 100, timeoutMs: 80, failuresBeforeUnhealthy: 2, successesBeforeHealthy: 2 }] });
      const status = async () => (await t.client.resolve({ service: "sdk", allStatuses: true })).instances[0];
      await until("PASSING", async () => (await status())?.checkResults[0]?.status === CheckStatus.PASSING);
      assert.equal((await status())?.ttl, undefined, "no lease");
      target.mode = "fail";
      await until("UNHEALTHY", async () => (await status())?.status === InstanceStatus.UNHEALTHY);
      target.mode = "ok";
      await until("HEALTHY", async () => (await status())?.status === InstanceStatus.HEALTHY);
      assert.equal(r.key.service, "sdk");
    } finally {
      await registrar.close();
    }
  });
});
