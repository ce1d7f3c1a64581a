import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { collectWatch } from "./helpers/watch.js";
import { clientFor, startTestServer, until, type TestServer } from "./helpers/server.js";
import { clientThrough, frontEnds, frontEndTitles } from "./semantics/target.js";
import { run } from "../src/cli/main.js";
import { durationToMs } from "../src/core/duration.js";

function refusedWith(code: Code, mention: string) {
  return (e: unknown) => {
    const err = ConnectError.from(e);
    assert.equal(err.code, code, err.message);
    assert.ok(err.rawMessage.includes(mention), `"${err.rawMessage}" should mention ${mention}`);
    return true;
  };
}

describe("Limits", () => {
  let t: TestServer;
  before(
    async () =>
      (t = await startTestServer({
        limits: { maxTags: 3, maxMetadataEntries: 4, maxMetadataBytes: 256, maxInstancesPerService: 3, maxInstances: 5, maxStreamsPerConnection: 3, maxWatchers: 4, maxWeight: 100 },
      })),
  );
  after(() => t.close());

  it("refuses too many tags and too much metadata with RESOURCE_EXHAUSTED naming the limit", async () => {
    await assert.rejects(t.client.register({ service: "lim", host: "h", port: 1, tags: ["a", "b", "c", "d"] }), refusedWith(Code.ResourceExhausted, "max-tags"));
    const five = Object.fromEntries(["a", "b", "c", "d", "e"].map((k) => [k, "v"]));
    await assert.rejects(t.client.register({ service: "lim", host: "h", port: 1, metadata: five }), refusedWith(Code.ResourceExhausted, "max-metadata-entries"));
    await assert.rejects(t.client.register({ service: "lim", host: "h", port: 1, metadata: { k: "x".repeat(300) } }), refusedWith(Code.ResourceExhausted, "max-metadata-bytes"));
    await assert.rejects(t.client.register({ service: "lim", host: "h", port: 1, weight: 101 }), refusedWith(Code.InvalidArgument, "weight"));
  });

  it("refuses instances over max-instances-per-service and max-instances, and keeps serving", async () => {
    for (const id of ["a", "b", "c"]) await t.client.register({ service: "full", id, host: "h", port: 1 });
    await assert.rejects(t.client.register({ service: "full", id: "d", host: "h", port: 1 }), refusedWith(Code.ResourceExhausted, "max-instances-per-service"));
    await t.client.register({ service: "full", id: "a", host: "h", port: 2 }); // an update is not a new instance
    await t.client.register({ service: "other", id: "a", host: "h", port: 1 });
    await t.client.register({ service: "other", id: "b", host: "h", port: 1 });
    await assert.rejects(t.client.register({ service: "third", id: "a", host: "h", port: 1 }), refusedWith(Code.ResourceExhausted, "max-instances"));
    assert.equal((await t.client.resolve({ service: "full" })).instances.length, 3, "nothing lost");
    for (const id of ["a", "b"]) await t.client.deregister({ service: "other", id });
  });

  it("refuses streams over max-streams-per-connection; other connections are unaffected", async () => {
    const watches = [0, 1, 2].map(() => collectWatch(t.client, { service: "full" }));
    await Promise.all(watches.map((w) => w.waitFor(4)));
    const fourth = collectWatch(t.client, { service: "full" });
    await until("refusal", () => fourth.ended);
    refusedWith(Code.ResourceExhausted, "max-streams-per-connection")(fourth.error);
    const elsewhere = collectWatch(clientFor(t.url), { service: "full" });
    await elsewhere.waitFor(4);
    // Over max-watchers (4) on a third connection.
    const fifth = collectWatch(clientFor(t.url), { service: "full" });
    await until("refusal", () => fifth.ended);
    refusedWith(Code.ResourceExhausted, "max-watchers")(fifth.error);
    for (const w of [...watches, elsewhere]) {
      assert.equal(w.ended, false, "earlier streams go on");
      await w.stop();
    }
    // Slots come back when streams end.
    const again = collectWatch(t.client, { service: "full" });
    await again.waitFor(4);
    await again.stop();
  });
});

describe("max-message-bytes on every front end", () => {
  let t: TestServer;
  const limit = 64 * 1024;
  before(async () => (t = await startTestServer({ limits: { maxMessageBytes: limit } })));
  after(() => t.close());

  for (const frontEnd of frontEnds) {
    it(`refuses a request message over the limit through ${frontEndTitles[frontEnd]} with RESOURCE_EXHAUSTED naming max-message-bytes`, async () => {
      const client = clientThrough(frontEnd, t.url);
      const metadata = { k: "x".repeat(limit + 1000) };
      await assert.rejects(client.register({ service: "big", host: "h", port: 1, metadata }), (e: unknown) => {
        const err = ConnectError.from(e);
        assert.equal(err.code, Code.ResourceExhausted, err.message);
        assert.match(err.rawMessage, new RegExp(`^limit max-message-bytes=${limit} reached: the request message (has \\d+ bytes|is larger)$`));
        return true;
      });
      await client.register({ service: "small", host: "h", port: 1 });
    });
  }
});

describe("GetStatus: the limits in force", () => {
  let t: TestServer;
  before(async () => (t = await startTestServer({ limits: { maxMessageBytes: 123_456, maxWatchQueue: 77, minTtlMs: 2000, maxTtlMs: 60_000, maxInstances: 42 }, timing: { historySize: 999 } })));
  after(() => t.close());

  it("returns every configured limit a client needs, with the configured values", async () => {
    const { limits } = await t.client.getStatus({});
    assert.ok(limits);
    assert.equal(limits.maxMessageBytes, 123_456);
    assert.equal(limits.maxWatchQueue, 77);
    assert.equal(limits.maxInstances, 42);
    assert.equal(limits.historySize, 999);
    assert.equal(durationToMs(limits.minTtl), 2000);
    assert.equal(durationToMs(limits.maxTtl), 60_000);
    assert.equal(limits.maxTags, 32, "a default");
    assert.equal(durationToMs(limits.watchProgressInterval), 5000);
  });

  it("shows them in `roster status`, named as the settings", async () => {
    let stdout = "";
    const code = await run(["status", "--registry", t.url], { stdout: { write: (s: string) => void (stdout += s) }, stderr: { write: () => {} }, env: {}, signal: new AbortController().signal });
    assert.equal(code, 0);
    assert.match(stdout, /max-message-bytes:\s+123456\n/);
    assert.match(stdout, /max-watch-queue:\s+77\n/);
    assert.match(stdout, /ttl:\s+2s to 1m00s\n/);
    assert.match(stdout, /xds:\s+0 clients, 0 services, 0 pushes, 0 NACKs/, "and the node's xDS server");
    assert.match(stdout, /checks:\s+0 owned by this node, 1 members\n/, "and its share of the active checks");
  });
});
