import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { RemovalReason, WatchEventType as T } from "../../gen/roster/v1/registry_pb.js";
import { collectWatch } from "../helpers/watch.js";
import { sleep, until, type TestServer } from "../helpers/server.js";
import type { Target } from "./target.js";

const reg = (t: TestServer, service: string, id: string, extra: object = {}) => t.client.register({ service, id, host: "10.0.0.1", port: 80, ...extra });

/** The SEMANTICS 4 claims, checked on one target (a front end and a store). */
export function watchSuite(target: Target): void {
  describe("Watch (SEMANTICS 4)", function () {
    this.timeout(20000);
    let t: TestServer;
    before(async () => (t = await target.start({ timing: { historySize: 50, watchProgressIntervalMs: 300 } })));
    after(() => t.close());

    it("sends a snapshot, a snapshot-complete marker, then every later change (4.1)", async () => {
      await reg(t, "snap", "a");
      await reg(t, "snap", "b");
      const w = collectWatch(t.client, { service: "snap" });
      await w.waitFor(3);
      const c = await reg(t, "snap", "c");
      await reg(t, "snap", "a", { port: 81 });
      await t.client.deregister({ service: "snap", id: "b" });
      await w.waitFor(6);
      await w.stop();
      const types = w.events.map((e) => e.type);
      assert.deepEqual(types, [T.ADDED, T.ADDED, T.SNAPSHOT_COMPLETE, T.ADDED, T.UPDATED, T.REMOVED]);
      assert.deepEqual(w.events.slice(0, 2).map((e) => e.instance!.id).sort(), ["a", "b"]);
      assert.equal(w.events[3]!.revision, c.revision);
      assert.equal(w.events[5]!.reason, RemovalReason.DEREGISTERED);
    });

    it("filters by tags and metadata, and reports an instance leaving the filter as removed (4.1)", async () => {
      const w = collectWatch(t.client, { service: "filt", filter: { tags: ["blue"], metadata: { version: "2" } } });
      await w.waitFor(1);
      await reg(t, "filt", "a", { tags: ["blue"], metadata: { version: "2" } });
      await reg(t, "filt", "b", { tags: ["green"], metadata: { version: "2" } });
      await reg(t, "filt", "c", { tags: ["blue"], metadata: { version: "1" } });
      await reg(t, "filt", "a", { tags: ["blue"], metadata: { version: "3" } });
      await reg(t, "filt", "c", { tags: ["blue"], metadata: { version: "2" } });
      await w.waitFor(4);
      await sleep(100);
      await w.stop();
      assert.deepEqual(
        w.events.map((e) => [e.type, e.instance?.id ?? "", e.reason]),
        [
          [T.SNAPSHOT_COMPLETE, "", 0],
          [T.ADDED, "a", 0],
          [T.REMOVED, "a", RemovalReason.UNMATCHED],
          [T.ADDED, "c", 0],
        ],
      );
    });

    it("watches every service of a namespace when no service is named (4.1)", async () => {
      const w = collectWatch(t.client, { namespace: "wide" });
      await w.waitFor(1);
      await t.client.register({ namespace: "wide", service: "one", host: "h", port: 1 });
      await t.client.register({ namespace: "wide", service: "two", host: "h", port: 1 });
      await t.client.register({ namespace: "other", service: "one", host: "h", port: 1 });
      await w.waitFor(3);
      await sleep(100);
      await w.stop();
      assert.deepEqual(w.events.slice(1).map((e) => e.instance!.service), ["one", "two"]);
    });

    it("resumes from a revision with every later change, in order, none missing or repeated (4.2, 4.3)", async () => {
      const first = await reg(t, "resume", "a");
      const w1 = collectWatch(t.client, { service: "resume" });
      await w1.waitFor(2);
      await reg(t, "resume", "b");
      await w1.waitFor(3);
      await w1.stop();
      const last = w1.events.at(-1)!.revision;
      // Changes while nobody watches.
      await reg(t, "resume", "c");
      await reg(t, "resume", "a", { port: 99 });
      await t.client.deregister({ service: "resume", id: "b" });
      await reg(t, "noise", "x");
      const w2 = collectWatch(t.client, { service: "resume", startRevision: last });
      await w2.waitFor(3);
      await reg(t, "resume", "d");
      await w2.waitFor(4);
      await sleep(100);
      await w2.stop();
      assert.deepEqual(
        w2.events.map((e) => [e.type, e.instance!.id]),
        [
          [T.ADDED, "c"],
          [T.UPDATED, "a"],
          [T.REMOVED, "b"],
          [T.ADDED, "d"],
        ],
      );
      const revs = w2.events.map((e) => e.revision);
      assert.deepEqual(revs, [...revs].sort((a, b) => (a < b ? -1 : 1)));
      assert.ok(revs[0]! > last && first.revision < last);
    });

    it("sends a reset and a fresh snapshot when the start revision is older than history (4.2)", async () => {
      const start = (await t.client.getStatus({})).revision;
      for (let i = 0; i < 60; i++) await reg(t, "churn", `c${i % 3}`, { port: 1000 + i });
      const w = collectWatch(t.client, { service: "churn", startRevision: start });
      await w.waitFor(5);
      await w.stop();
      assert.equal(w.events[0]!.type, T.RESET);
      assert.deepEqual(w.events.slice(1, 4).map((e) => e.type), [T.ADDED, T.ADDED, T.ADDED]);
      assert.equal(w.events[4]!.type, T.SNAPSHOT_COMPLETE);
    });

    it("sends a reset when the start revision is ahead of the registry (it restarted) (4.2)", async () => {
      const now = (await t.client.getStatus({})).revision;
      const w = collectWatch(t.client, { service: "snap", startRevision: now + 1000n });
      await w.waitFor(2);
      await w.stop();
      assert.equal(w.events[0]!.type, T.RESET);
      assert.equal(w.events.at(-1)!.type, T.SNAPSHOT_COMPLETE);
    });

    // Only a memory registry forgets its history on a restart.
    if (target.store === "memory")
    it("sends a reset, not another run's history, to a watcher resuming across a memory registry restart (4.2, 7.1)", async () => {
      const first = await target.start();
      await reg(first, "reborn", "a");
      const seen = (await first.client.getStatus({})).revision;
      const port = first.port;
      await first.close();
      const second = await target.start({ port });
      try {
        for (let i = 0; i < 5; i++) await reg(second, "reborn", `n${i}`);
        const w = collectWatch(second.client, { service: "reborn", startRevision: seen });
        await w.waitFor(7);
        await w.stop();
        assert.equal(w.events[0]!.type, T.RESET);
        assert.equal(w.events.at(-1)!.type, T.SNAPSHOT_COMPLETE);
        assert.ok(w.events.at(-1)!.revision > seen, "revisions keep rising across restarts");
      } finally {
        await second.close();
      }
    });

    it("sends progress markers with the current revision on an idle stream (4.4)", async () => {
      const w = collectWatch(t.client, { service: "idle" });
      await until("two progress markers", () => w.progress.length >= 2, 3000);
      const rev = (await t.client.getStatus({})).revision;
      await w.stop();
      assert.ok(w.progress.at(-1)!.revision <= rev && w.progress.at(-1)!.revision > 0n);
    });

    it("refuses a bad watch request with INVALID_ARGUMENT", async () => {
      const w = collectWatch(t.client, { service: "Not Valid" });
      await until("end", () => w.ended);
      assert.equal(ConnectError.from(w.error).code, Code.InvalidArgument);
    });
  });

  // A raw HTTP/2 client that stops reading: the fast path's own flow control is what is under test.
  if (target.frontEnd === "grpc")
  describe("Slow watchers (SEMANTICS 4.3)", function () {
    this.timeout(30000);
    let t: TestServer;
    before(async () => (t = await target.start({ limits: { maxWatchQueue: 50 } })));
    after(() => t.close());

    it("ends a watcher that falls too far behind with RESOURCE_EXHAUSTED, and it resumes without loss", async () => {
      // A raw HTTP/2 stream that never reads: the server's queue for it fills up.
      const http2 = await import("node:http2");
      const before = (await t.client.getStatus({})).revision;
      const session = http2.connect(t.url);
      const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Watch", "content-type": "application/grpc", te: "trailers" });
      const body = Buffer.from([0x12, 0x04, ...Buffer.from("slow")]); // WatchRequest{service: "slow"}
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(body.length, 1);
      req.end(Buffer.concat([frame, body]));
      req.pause();
      let status = "";
      let message = "";
      req.on("trailers", (h) => {
        status = String(h["grpc-status"]);
        message = decodeURIComponent(String(h["grpc-message"] ?? ""));
      });
      req.on("response", (h) => {
        if (h["grpc-status"]) status = String(h["grpc-status"]);
      });
      // A client whose window is full cannot take trailers: the server resets the
      // stream with ENHANCE_YOUR_CALM, which gRPC clients read as RESOURCE_EXHAUSTED.
      req.on("error", () => {
        if (req.rstCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) status = String(Code.ResourceExhausted);
      });
      const meta = { big: "x".repeat(4000) };
      let i = 0;
      await until(
        "the slow watcher is cut off",
        async () => {
          for (let k = 0; k < 80; k++) await reg(t, "slow", `s${i++ % 20}`, { port: 1 + (i % 60000), metadata: meta });
          req.resume();
          await sleep(2);
          req.pause();
          return status !== "";
        },
        25000,
      );
      req.resume();
      session.close();
      assert.equal(status, String(Code.ResourceExhausted));
      // Trailers name the revision to resume from; after a reset the client resumes
      // from the last revision it read, which is at least where it started.
      const m = /start_revision=(\d+)/.exec(message);
      const resume = m ? BigInt(m[1]!) : before;
      assert.ok(m || req.rstCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, `the error says where to resume: "${message}"`);
      await until("the server frees the watcher's slot", async () => (await t.client.getStatus({})).watchers === 0, 5000);
      // Resuming from there works: history holds the rest.
      const w = collectWatch(t.client, { service: "slow", startRevision: resume });
      await w.waitFor(1);
      await w.stop();
      assert.notEqual(w.events[0]!.type, T.RESET);
      // The server kept serving everyone else.
      assert.ok((await t.client.getStatus({})).revision > 0n);
    });
  });
}
