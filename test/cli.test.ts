import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { run, type CliIo } from "../src/cli/main.ts";
import { freePort, startTestServer, until, type TestServer } from "./helpers/server.ts";
import { makeCa, removeCa, type CertFiles, type TestCa } from "./helpers/tls-certs.ts";

/** An in-process `roster` invocation with captured output and its own Ctrl-C. */
function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stop = new AbortController();
  const out = { stdout: "", stderr: "" };
  const io: CliIo = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    env,
    signal: stop.signal,
  };
  const exit = run(argv, io);
  return { out, exit, interrupt: () => stop.abort() };
}

async function roster(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = cli(argv, env);
  const code = await c.exit;
  return { code, ...c.out };
}

describe("roster CLI", () => {
  let t: TestServer;
  let r: string[];
  before(async () => {
    t = await startTestServer();
    r = ["--registry", t.url];
  });
  after(() => t.close());

  it("registers, lists, shows, resolves and deregisters an instance", async () => {
    const reg = await roster(["register", ...r, "--json", "--service", "cart", "--host", "10.0.0.7", "--port", "8080", "--id", "cart-1", "--meta", "version=1.2.0", "--tag", "api", "--weight", "5", "--zone", "eu-1", "--ttl", "30s"]);
    assert.equal(reg.code, 0, reg.stderr);
    const registered = JSON.parse(reg.stdout);
    assert.equal(registered.created, true);
    assert.deepEqual(
      { id: registered.instance.id, port: registered.instance.port, weight: registered.instance.weight, ttl: registered.instance.ttl, metadata: registered.instance.metadata },
      { id: "cart-1", port: 8080, weight: 5, ttl: "30s", metadata: { version: "1.2.0" } },
    );

    const ls = await roster(["ls", ...r, "--json"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).services.find((s: { name: string }) => s.name === "cart"),
      { name: "cart", instances: 1, healthy: 1, starting: 0, unhealthy: 0, stopping: 0, unknown: 0 },
    );

    const get = await roster(["get", ...r, "cart"]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /^ID\s+ADDRESS\s+STATUS/);
    assert.match(get.stdout, /cart-1\s+10\.0\.0\.7:8080\s+healthy\s+-\s+eu-1\s+5\s+0\s+30s\s+\S+ ago\s+\d+\/\d+\s+api\s+version=1\.2\.0/);

    const pick = await roster(["resolve", ...r, "cart", "--json", "--strategy", "round_robin", "--meta", "version=1.2.0", "--prefer-zone", "eu-1"]);
    assert.equal(pick.code, 0, pick.stderr);
    assert.deepEqual(
      JSON.parse(pick.stdout).instances.map((i: { id: string }) => i.id),
      ["cart-1"],
    );

    const dereg = await roster(["deregister", ...r, "cart", "cart-1"]);
    assert.equal(dereg.code, 0, dereg.stderr);
    assert.match(dereg.stdout, /^deregistered cart\/cart-1 \(revision \d+\)\n$/);
    assert.equal((await roster(["get", ...r, "cart"])).stdout, "no instances of cart\n");
  });

  it("reports a refused call as `error: <gRPC code>: <message>` with exit code 1", async () => {
    const missing = await roster(["deregister", ...r, "cart", "no-such-id"]);
    assert.deepEqual([missing.code, missing.stdout], [1, ""]);
    assert.match(missing.stderr, /^error: NOT_FOUND: .*no-such-id.* not found\n$/);

    const invalid = await roster(["register", ...r, "--service", "Not A DNS Name!", "--host", "h", "--port", "1"]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^error: INVALID_ARGUMENT: service/);

    const nobody = await roster(["resolve", ...r, "nobody", "--strategy", "random"]);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /^error: NOT_FOUND: /);
  });

  it("exits 2 on bad usage without calling the registry", async () => {
    const bad = await roster(["register", ...r, "--service", "cart", "--host", "h", "--port", "70000"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port <port>' argument '70000' is invalid/);
    assert.equal((await roster(["watch", ...r])).code, 2);
    assert.equal((await roster(["resolve", ...r])).code, 2);
  });

  it("watch prints a line for each change as it happens, and Ctrl-C ends it with exit code 0", async () => {
    const w = cli(["watch", ...r, "shop"]);
    await until("the snapshot", () => w.out.stdout.includes("snapshot complete"));
    await t.client.register({ service: "shop", id: "shop-1", host: "10.0.0.9", port: 9000, metadata: { version: "3" } });
    await until("the added event", () => /rev \d+ {2}added {4}shop\/shop-1 {2}10\.0\.0\.9:9000 {2}healthy {2}version=3\n/.test(w.out.stdout));
    await t.client.deregister({ service: "shop", id: "shop-1" });
    await until("the removed event", () => w.out.stdout.includes("removed  shop/shop-1  10.0.0.9:9000  (deregistered)"));
    w.interrupt();
    assert.equal(await w.exit, 0, w.out.stderr);
  });

  it("watch --json prints one JSON object per line", async () => {
    await t.client.register({ service: "inventory", id: "inv-1", host: "10.0.0.3", port: 7000 });
    const w = cli(["watch", ...r, "inventory", "--json"]);
    await until("two lines", () => w.out.stdout.split("\n").length > 2);
    w.interrupt();
    assert.equal(await w.exit, 0);
    const [added, complete] = w.out.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual([added.type, added.instance.id, complete.type], ["WATCH_EVENT_TYPE_ADDED", "inv-1", "WATCH_EVENT_TYPE_SNAPSHOT_COMPLETE"]);
  });

  it("register --keepalive heartbeats until Ctrl-C, then deregisters", async () => {
    const k = cli(["register", ...r, "--service", "kept", "--id", "k-1", "--host", "10.0.0.5", "--port", "80", "--ttl", "1s", "--keepalive"]);
    await until("registration", () => k.out.stdout.includes("registered kept/k-1"));
    const first = (await t.client.resolve({ service: "kept" })).instances[0]?.lastHeartbeatAt;
    await until("a heartbeat", async () => (await t.client.resolve({ service: "kept" })).instances[0]?.lastHeartbeatAt?.nanos !== first?.nanos);
    k.interrupt();
    assert.equal(await k.exit, 0, k.out.stderr);
    assert.match(k.out.stdout, /deregistered kept\/k-1/);
    assert.equal((await t.client.resolve({ service: "kept", allStatuses: true })).instances.length, 0);
  });

  it("takes --registry, --namespace and --json before or after the command name", async () => {
    const reg = await roster(["--registry", t.url, "--namespace", "team-a", "register", "--service", "placed", "--host", "10.0.0.1", "--port", "1", "--id", "p-1"]);
    assert.equal(reg.code, 0, reg.stderr);
    const names = (out: string) => (JSON.parse(out) as { services: { name: string }[] }).services.map((s) => s.name);
    for (const argv of [
      ["--registry", t.url, "--namespace", "team-a", "--json", "ls"],
      ["ls", "--registry", t.url, "--namespace", "team-a", "--json"],
      ["-r", t.url, "ls", "-n", "team-a", "--json"],
      ["--json", "ls", "--registry", t.url, "-n", "team-a"],
    ]) {
      const ls = await roster(argv);
      assert.equal(ls.code, 0, `${argv.join(" ")}: ${ls.stderr}`);
      assert.deepEqual(names(ls.stdout), ["placed"], argv.join(" "));
    }
    const elsewhere = await roster(["ls", "--json"], { ROSTER_REGISTRY: t.url });
    assert.ok(!names(elsewhere.stdout).includes("placed"), "the default namespace does not see team-a's service");
    const gone = await roster(["deregister", "placed", "p-1", "--namespace", "team-a", "--registry", t.url]);
    assert.equal(gone.code, 0, gone.stderr);
  });

  it("takes ROSTER_REGISTRY as an address list: a node that is down passes the call to the next", async () => {
    const down = await freePort();
    const ls = await roster(["ls"], { ROSTER_REGISTRY: `127.0.0.1:${down},127.0.0.1:${t.port}` });
    assert.equal(ls.code, 0, ls.stderr);
    const none = await roster(["ls"], { ROSTER_REGISTRY: `127.0.0.1:${down}` });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: UNAVAILABLE: /);
  });

  it("serve rejects a bad setting with a message naming it and exit code 2", async () => {
    const flag = await roster(["serve", "--port", "seventy"]);
    assert.deepEqual([flag.code, flag.stderr], [2, 'error: --port (ROSTER_PORT): "seventy" is not a number\n']);
    const env = await roster(["serve", "--port", "0"], { ROSTER_MAX_TAGS: "0" });
    assert.deepEqual([env.code, env.stderr], [2, "error: max-tags: must be a whole number of at least 1\n"]);
  });
});

describe("roster register --keepalive across a registry restart", () => {
  it("2.4 re-registers by itself when a restarted memory-store registry does not know the instance", async () => {
    const port = await freePort();
    let t = await startTestServer({ port });
    try {
      const k = cli(["register", "--registry", `127.0.0.1:${port}`, "--service", "survivor", "--id", "s-1", "--host", "10.0.0.6", "--port", "81", "--ttl", "1s", "--keepalive"]);
      await until("registration", () => k.out.stdout.includes("registered survivor/s-1"));
      await t.close();
      t = await startTestServer({ port });
      const fresh = t;
      await until("the instance on the restarted registry", async () => (await fresh.client.resolve({ service: "survivor" })).instances.length === 1, 10_000);
      assert.match(k.out.stderr, /the registry lost survivor\/s-1 \(NOT_FOUND\); registering again/);
      k.interrupt();
      assert.equal(await k.exit, 0, k.out.stderr);
      assert.match(k.out.stdout, /deregistered survivor\/s-1\n$/);
      assert.equal((await t.client.resolve({ service: "survivor", allStatuses: true })).instances.length, 0);
    } finally {
      await t.close();
    }
  });
});

describe("roster serve (process)", () => {
  it("shuts down gracefully on SIGTERM and exits 0", async () => {
    const port = await freePort();
    // The sources through tsx, so the test needs no build; test/package.test.ts runs the built binary.
    const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", main, "serve", "--port", String(port), "--log-level", "info", "--shutdown-grace-ms", "1000"], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await until("the server to listen", () => output.includes(`"url":"http://127.0.0.1:${port}"`), 15_000);
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000))]);
      assert.equal(code, 0, output);
      assert.match(output, /"event":"stopped"/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});


describe("roster CLI over TLS with auth (issue 13)", function () {
  this.timeout(30000);
  let ca: TestCa;
  let t: TestServer;
  let client: CertFiles;
  before(async () => {
    ca = makeCa();
    const server = ca.issue("server", "roster", "IP:127.0.0.1");
    client = ca.issue("cart", "cart", "URI:spiffe://test/ns/shop/svc/cart");
    const policy = path.join(ca.dir, "policy.json");
    fs.writeFileSync(policy, JSON.stringify({ principals: { "spiffe://test/ns/shop/svc/cart": [{ role: "workload", namespace: "shop", service: "cart" }], ops: [{ role: "admin", namespace: "*" }] } }));
    const tokens = path.join(ca.dir, "tokens.json");
    fs.writeFileSync(tokens, JSON.stringify({ tokens: [{ sha256: createHash("sha256").update("tok-ops").digest("hex"), principal: "ops" }] }));
    t = await startTestServer({ http1Port: -1, tlsCert: server.certFile, tlsKey: server.keyFile, tlsClientCa: ca.certFile, auth: "both", policyFile: policy, tokenFile: tokens, auditLog: path.join(ca.dir, "audit.log") });
  });
  after(async () => {
    await t.close();
    removeCa(ca);
  });

  it("takes --ca, --client-cert and --client-key: a workload registers its own service and is refused another", async () => {
    const tls = ["--registry", t.url, "--ca", ca.certFile, "--client-cert", client.certFile, "--client-key", client.keyFile, "--namespace", "shop"];
    const own = await roster(["register", ...tls, "--service", "cart", "--host", "10.0.0.7", "--port", "8080", "--id", "c1"]);
    assert.equal(own.code, 0, own.stderr);
    const other = await roster(["register", ...tls, "--service", "payments", "--host", "10.0.0.7", "--port", "8080", "--id", "p1"]);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /permission/i);
  });

  it("takes --token before the command name, and refuses a call with no credentials as unauthenticated", async () => {
    const ok = await roster(["--registry", t.url, "--ca", ca.certFile, "--token", "tok-ops", "--namespace", "shop", "ls", "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(JSON.parse(ok.stdout).services.some((s: { name: string }) => s.name === "cart"), ok.stdout);
    const none = await roster(["--registry", t.url, "--ca", ca.certFile, "ls"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /unauthenticated/i);
  });

  it("reads the same settings from ROSTER_TLS_CA and ROSTER_TOKEN", async () => {
    const r = await roster(["--registry", t.url, "--namespace", "shop", "ls"], { ROSTER_TLS_CA: ca.certFile, ROSTER_TOKEN: "tok-ops" });
    assert.equal(r.code, 0, r.stderr);
  });
});
