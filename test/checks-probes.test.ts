import { strict as assert } from "node:assert";
import { httpProbe, type HttpProbeOptions } from "../src/server/checks/http-probe.js";
import { tcpProbe } from "../src/server/checks/tcp-probe.js";
import { GrpcHealthWatches } from "../src/server/checks/grpc-probe.js";
import { excerpt } from "../src/server/checks/probe-result.js";
import { startGrpcHealthTarget, startHttpTarget, startTcpTarget, type GrpcHealthTarget, type HttpTarget } from "./helpers/check-targets.js";
import { until } from "./helpers/server.js";
import { makeCa, removeCa, type TestCa } from "./helpers/tls-certs.js";

const http = (port: number, o: Partial<HttpProbeOptions> = {}): HttpProbeOptions => ({
  host: "127.0.0.1",
  port,
  path: "/healthz",
  tls: false,
  tlsSkipVerify: false,
  expectedStatuses: [],
  headers: {},
  timeoutMs: 1_000,
  outputBytes: 256,
  ...o,
});

describe("checks: probes (SEMANTICS 6.2)", () => {
  describe("HTTP", () => {
    let target: HttpTarget;
    beforeEach(async () => (target = await startHttpTarget()));
    afterEach(() => target.close());

    it("6.2 an HTTP check passes on a 2xx answer to a GET, with the status and body start as output", async () => {
      assert.deepEqual(await httpProbe(http(target.port)), { passed: true, output: "HTTP 200: all good" });
      target.mode = "fail";
      assert.deepEqual(await httpProbe(http(target.port)), { passed: false, output: "HTTP 503: database unreachable" });
    });

    it("6.2 an HTTP check with expected statuses passes on those instead of 2xx, and sends its headers", async () => {
      target.mode = "fail";
      assert.equal((await httpProbe(http(target.port, { expectedStatuses: [503], headers: { "x-probe": "roster" } }))).passed, true);
      assert.equal(target.lastHeaders?.["x-probe"], "roster");
      target.mode = "ok";
      assert.equal((await httpProbe(http(target.port, { expectedStatuses: [503] }))).passed, false);
    });

    it("6.2 a probe that gets no answer within its timeout fails", async () => {
      target.mode = "hang";
      const t0 = performance.now();
      const r = await httpProbe(http(target.port, { timeoutMs: 200 }));
      assert.equal(r.passed, false);
      assert.match(r.output, /timed out after 200 ms/);
      assert.ok(performance.now() - t0 < 1_000);
    });

    it("6.2 a refused connection fails with the error as output", async () => {
      const port = target.port;
      await target.close();
      const r = await httpProbe(http(port));
      assert.equal(r.passed, false);
      assert.match(r.output, /ECONNREFUSED/);
      target = await startHttpTarget();
    });

    it("output is cut to check-output-bytes, never inside a character", async () => {
      await target.close();
      target = await startHttpTarget({ body: "é".repeat(500) });
      const r = await httpProbe(http(target.port, { outputBytes: 21 }));
      assert.equal(r.output, `HTTP 200: ${"é".repeat(5)}`);
      assert.equal(excerpt("a\nb\u0000c", 10), "a b c");
    });
  });

  describe("HTTPS", () => {
    let ca: TestCa;
    let target: HttpTarget;
    before(async () => {
      ca = makeCa("checks");
      const leaf = ca.issue("target", "target", "IP:127.0.0.1");
      target = await startHttpTarget({ tls: leaf });
    });
    after(async () => {
      await target.close();
      removeCa(ca);
    });

    it("6.2 an HTTPS check verifies the certificate unless told to skip verification", async () => {
      const verified = await httpProbe(http(target.port, { tls: true }));
      assert.equal(verified.passed, false, "the test CA is not trusted by the node");
      assert.match(verified.output, /certificate/i);
      assert.deepEqual(await httpProbe(http(target.port, { tls: true, tlsSkipVerify: true })), { passed: true, output: "HTTP 200: all good" });
    });
  });

  describe("TCP", () => {
    it("6.2 a TCP check passes when a connection opens and fails when it is refused", async () => {
      const target = await startTcpTarget();
      const o = { host: "127.0.0.1", port: target.port, timeoutMs: 1_000, outputBytes: 256 };
      assert.deepEqual(await tcpProbe(o), { passed: true, output: `TCP connect 127.0.0.1:${target.port}: success` });
      await target.stop();
      const r = await tcpProbe(o);
      assert.equal(r.passed, false);
      assert.match(r.output, /ECONNREFUSED/);
      await target.start();
      assert.equal((await tcpProbe(o)).passed, true);
      assert.equal(target.accepted, 2);
      await target.close();
    });
  });

  describe("gRPC", () => {
    let target: GrpcHealthTarget;
    let watches: GrpcHealthWatches;
    beforeEach(async () => {
      target = await startGrpcHealthTarget();
      watches = new GrpcHealthWatches();
    });
    afterEach(() => {
      watches.close();
      target.close();
    });
    const ping = { pingIntervalMs: 1_000, pingTimeoutMs: 1_000 };
    const t = (service = "") => ({ host: "127.0.0.1", port: target.port, service, tls: false, tlsSkipVerify: false });

    it("6.2 a gRPC check passes while grpc.health.v1 says SERVING, read from one long-lived Watch per target", async () => {
      target.set("api.v1.Api", "SERVING");
      const a = watches.acquire(t("api.v1.Api"), ping);
      const b = watches.acquire(t("api.v1.Api"), ping);
      assert.equal(a, b, "two checks of one target share one stream");
      for (let i = 0; i < 5; i++) assert.deepEqual(await a.probe(1_000, 256), { passed: true, output: 'gRPC health of service "api.v1.Api": SERVING' });
      target.set("api.v1.Api", "NOT_SERVING");
      await until("NOT_SERVING seen", async () => !(await a.probe(1_000, 256)).passed);
      assert.equal(target.watches, 1, "probes read the stream, they do not dial again");
      assert.equal(target.checks, 0);
      watches.release(t("api.v1.Api"));
      assert.equal(watches.size, 1);
      watches.release(t("api.v1.Api"));
      assert.equal(watches.size, 0, "the last check to let go closes the stream");
      await until("the target sees the stream end", () => target.openWatches === 0);
    });

    it("6.2 a gRPC check fails while its stream is down and passes again once it is re-opened", async () => {
      const w = watches.acquire(t(), ping);
      assert.equal((await w.probe(1_000, 256)).passed, true);
      const port = target.port;
      target.close();
      await until("stream down", async () => !(await w.probe(200, 256)).passed);
      assert.match((await w.probe(200, 256)).output, /stream down/);
      target = await startGrpcHealthTarget({ port });
      await until("stream re-opened", async () => (await w.probe(200, 256)).passed, 15_000);
    });

    it("a server without Watch is asked with one Check per probe", async () => {
      target.close();
      target = await startGrpcHealthTarget({ watch: false });
      const w = watches.acquire(t(), ping);
      await until("answered by Check", async () => (await w.probe(500, 256)).passed);
      assert.ok(target.checks >= 1);
    });
  });
});
