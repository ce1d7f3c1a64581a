import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { startTcpRelay, type TcpRelay } from "./helpers/tcp-relay.js";
import { sleep, startTestServer, until, type TestServer } from "./helpers/server.js";

// Runs examples/python/roster_example.py, the README's worked Python example,
// with Debian's grpcio (python3-grpcio, under /usr/bin/python3) against a
// real node, through a relay that can cut the network, and checks what it
// prints: the lease kept by its heartbeat stream, a watch that resumes
// without a new snapshot, a registry restart (NOT_FOUND: register again;
// RESET: a fresh snapshot), and leaving.

const python = "/usr/bin/python3";
const root = fileURLToPath(new URL("..", import.meta.url));
const example = path.join(root, "examples/python/roster_example.py");
const ttlS = 3;

/** Why the example cannot run here, or undefined when it can. */
function missing(): string | undefined {
  if (spawnSync(python, ["-c", "import grpc"]).status !== 0) return `${python} has no grpc module (apt-get install python3-grpcio)`;
  for (const tool of ["protoc", "grpc_python_plugin"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed, needed to generate the stubs (apt-get install protobuf-compiler protobuf-compiler-grpc)`;
  }
  return undefined;
}

describe("The Python grpcio example (README: A worked example in Python)", function () {
  this.timeout(60000);
  let stubs: string;
  let t: TestServer;
  let relay: TcpRelay;
  let py: ChildProcess | undefined;
  const lines: string[] = [];

  /** Waits for a printed line matching `re` after line `from`; returns its index. */
  async function printed(re: RegExp, from = 0, ms = 15000): Promise<number> {
    let at = -1;
    await until(`the example to print ${re} (printed so far: ${JSON.stringify(lines)})`, () => (at = lines.findIndex((l, i) => i >= from && re.test(l))) >= 0, ms);
    return at;
  }

  before(async function () {
    const why = missing();
    if (why !== undefined) {
      console.log(`    skipping the Python example: ${why}`);
      this.skip();
    }
    // The stubs as the README generates them: protoc 3.21 (proto3 `optional` needs 3.15 or newer) and grpcio's plugin.
    stubs = fs.mkdtempSync(path.join(os.tmpdir(), "roster-python-"));
    const gen = spawnSync("protoc", ["-I", path.join(root, "proto"), `--python_out=${stubs}`, `--grpc_python_out=${stubs}`, "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", "roster/v1/registry.proto"], { encoding: "utf8" });
    assert.equal(gen.status, 0, gen.stderr);
    t = await startTestServer();
    relay = await startTcpRelay(t.port);
  });
  after(async () => {
    if (py !== undefined && py.exitCode === null) py.kill("SIGKILL");
    await relay?.close();
    await t?.close();
    if (stubs !== undefined) fs.rmSync(stubs, { recursive: true, force: true });
  });

  it("2.1, 2.2, 2.4, 4.1, 4.2: registers, keeps its lease across a cut, resumes its watch, re-registers after a restart, and deregisters on SIGTERM", async () => {
    const proc = (py = spawn(python, ["-u", example, "--registry", `127.0.0.1:${relay.port}`, "--ttl", String(ttlS), "--drain", "0"], {
      env: { ...process.env, PYTHONPATH: stubs },
      stdio: ["ignore", "pipe", "pipe"],
    }));
    let stderr = "";
    let partial = "";
    proc.stdout!.on("data", (d: Buffer) => {
      const parts = (partial + d.toString()).split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
    });
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));

    await printed(/^registered echo-1 at revision \d+$/);
    await printed(/^snapshot \['echo-1'\] at revision \d+$/);
    const added = (await t.client.register({ service: "echo", id: "echo-2", host: "10.0.0.2", port: 80 })).revision;
    await printed(new RegExp(`^ADDED echo-2 at revision ${added}$`));

    // A connection reset (a proxy, a network blip): the changes made while no stream is open arrive after the resume, with no new snapshot.
    relay.cut();
    const during = lines.length;
    const added3 = (await t.client.register({ service: "echo", id: "echo-3", host: "10.0.0.3", port: 80 })).revision;
    const removed2 = (await t.client.deregister({ service: "echo", id: "echo-2" })).revision;
    relay.restore();
    const resumed = await printed(new RegExp(`^watch ended: UNAVAILABLE - resuming from revision ${added}$`), during);
    await printed(new RegExp(`^ADDED echo-3 at revision ${added3}$`), resumed);
    await printed(new RegExp(`^REMOVED echo-2 deregistered at revision ${removed2}$`), resumed);
    assert.ok(!lines.slice(during).some((l) => l.startsWith("snapshot")), `no snapshot after a resume: ${JSON.stringify(lines)}`);

    // Past a whole TTL since the register, echo-1 is there, renewed within the last beat interval or so.
    await sleep(ttlS * 1000 + 500);
    const [echo1] = (await t.client.resolve({ service: "echo" })).instances.filter((i) => i.id === "echo-1");
    assert.ok(echo1 !== undefined, `echo-1 kept its lease (printed: ${JSON.stringify(lines)})`);
    const sinceBeatMs = Date.now() - Number(echo1.lastHeartbeatAt!.seconds) * 1000 - echo1.lastHeartbeatAt!.nanos / 1e6;
    assert.ok(sinceBeatMs < ((ttlS * 1000) / 3) * 2, `last heartbeat ${sinceBeatMs} ms ago`);
    assert.deepEqual(lines.filter((l) => /expired|registering again/.test(l)), [], "the lease never lapsed, so no expiry and no second Register");

    // A memory-store registry restarted on the same port has forgotten everything: NOT_FOUND on the heartbeat, RESET on the watch.
    const port = t.port;
    const before = lines.length;
    await t.close();
    t = await startTestServer({ port });
    await printed(/^heartbeat: the registry does not know echo-1 - registering again$/, before);
    await printed(/^registered echo-1 at revision \d+$/, before);
    const reset = await printed(/^reset: history gone, a fresh snapshot follows$/, before);
    const snap = await printed(/^snapshot \[.*\] at revision \d+$/, reset);
    if (!lines[snap]!.includes("'echo-1'")) await printed(/^ADDED echo-1 at revision \d+$/, snap);
    await until("echo-1 on the new node", async () => (await t.client.resolve({ service: "echo" })).instances.some((i) => i.id === "echo-1"));

    proc.kill("SIGTERM");
    await printed(/^deregistered echo-1$/);
    assert.equal(await exited, 0, stderr);
    assert.deepEqual((await t.client.resolve({ service: "echo", allStatuses: true })).instances.map((i) => i.id), []);
  });
});
