import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { InstanceStatus, RegisterRequestSchema, WatchEventType } from "../../gen/roster/v1/registry_pb.js";
import { rawUnary } from "./raw-call.js";
import { collectWatch } from "../helpers/watch.js";
import { type TestServer } from "../helpers/server.js";
import type { Target } from "./target.js";

/** The SEMANTICS 1 and 3 claims, checked on one target (a front end and a store). */
export function identityAndRevisionsSuite(target: Target): void {
  describe("Identity (SEMANTICS 1)", () => {
    let t: TestServer;
    before(async () => (t = await target.start()));
    after(() => t.close());

    it("identifies an instance by namespace, service and id, with namespace default (1.1)", async () => {
      await t.client.register({ service: "ident", id: "a", host: "10.0.0.1", port: 1 });
      await t.client.register({ namespace: "prod", service: "ident", id: "a", host: "10.0.0.2", port: 2 });
      const def = await t.client.resolve({ service: "ident" });
      const explicit = await t.client.resolve({ namespace: "default", service: "ident" });
      const prod = await t.client.resolve({ namespace: "prod", service: "ident" });
      assert.deepEqual(def.instances.map((i) => [i.namespace, i.host]), [["default", "10.0.0.1"]]);
      assert.deepEqual(explicit.instances.map((i) => i.host), ["10.0.0.1"]);
      assert.deepEqual(prod.instances.map((i) => i.host), ["10.0.0.2"]);
    });

    it("refuses names that break the rules with INVALID_ARGUMENT naming the field (1.2)", async () => {
      const bad: [Record<string, unknown>, string][] = [
        [{ service: "Upper", host: "h", port: 1 }, "service"],
        [{ service: "-lead", host: "h", port: 1 }, "service"],
        [{ service: "trail-", host: "h", port: 1 }, "service"],
        [{ service: "a".repeat(254), host: "h", port: 1 }, "service"],
        [{ service: "", host: "h", port: 1 }, "service"],
        [{ service: "ok", id: "has space", host: "h", port: 1 }, "id"],
        [{ service: "ok", id: "x".repeat(129), host: "h", port: 1 }, "id"],
        [{ service: "ok", id: "é", host: "h", port: 1 }, "id"],
        [{ service: "ok", host: "", port: 1 }, "host"],
        [{ service: "ok", host: "h", port: 0 }, "port"],
        [{ service: "ok", host: "h", port: 70000 }, "port"],
        [{ service: "ok", host: "h", port: 1, ttl: { seconds: -5n } }, "ttl"],
        [{ service: "ok", host: "h", port: 1, status: 42 }, "status"],
        [{ namespace: "Bad NS", service: "ok", host: "h", port: 1 }, "namespace"],
      ];
      for (const [req, field] of bad) {
        await assert.rejects(t.client.register(req), (e: unknown) => {
          assert.ok(e instanceof ConnectError, String(e));
          assert.equal(e.code, Code.InvalidArgument, `${JSON.stringify(req, (_, v) => (typeof v === "bigint" ? String(v) : v)).slice(0, 80)}: ${e.message}`);
          assert.ok(e.rawMessage.startsWith(field), `message "${e.rawMessage}" should name ${field}`);
          return true;
        });
      }
      // Names at the limits are fine.
      await t.client.register({ service: "a".repeat(253), id: "~".repeat(128), host: "h", port: 65535 });
      await t.client.register({ service: "a.b-c.9", host: "h", port: 1 });
    });

    it("refuses an undecodable request with INVALID_ARGUMENT, in the same words on every front end (1.2)", async () => {
      const binary = [
        Buffer.from([0x12, 0x02, 0xc3, 0x28, 0x1a, 0x01, 0x68, 0x20, 0x01]), // RegisterRequest{service: "\xc3(" (invalid UTF-8), host: "h", port: 1}
        Buffer.from([0xff, 0xff, 0xff]), // not protobuf at all
      ];
      const json = [Buffer.from('{"service": "ok", "host": '), Buffer.from('{"service": "ok", "port": "eighty"}')];
      const bodies = target.frontEnd === "connect-json" ? json : binary;
      for (const body of bodies) {
        const out = await rawUnary(target.frontEnd, t.url, "Register", body);
        assert.equal(out.code, Code.InvalidArgument, `${body.toString("hex")}: ${out.code} ${out.message}`);
        if (target.frontEnd === "connect-json") {
          assert.match(out.message, /^cannot decode (message roster\.v1\.RegisterRequest|field roster\.v1\.RegisterRequest\.port) from JSON/);
          continue;
        }
        // The decoder's own words after "parse binary: ", as the gRPC fast path gives them.
        let expected = "";
        try {
          fromBinary(RegisterRequestSchema, body);
        } catch (e) {
          expected = `parse binary: ${(e as Error).message}`;
        }
        assert.equal(out.message, expected);
      }
      // The node goes on serving.
      await t.client.register({ service: "after-garbage", host: "h", port: 1 });
    });

    it("assigns an id when the client gives none (1.2)", async () => {
      const a = await t.client.register({ service: "anon", host: "h", port: 1 });
      const b = await t.client.register({ service: "anon", host: "h", port: 1 });
      assert.ok(a.instance!.id.length > 0);
      assert.notEqual(a.instance!.id, b.instance!.id);
    });

    it("re-register with an existing id updates in place and keeps the lease (1.3)", async () => {
      const first = await t.client.register({ service: "upsert", id: "u1", host: "h", port: 1, ttl: { seconds: 30n } });
      const second = await t.client.register({ service: "upsert", id: "u1", host: "h", port: 2, ttl: { seconds: 30n } });
      assert.equal(first.created, true);
      assert.equal(second.created, false);
      assert.equal(second.instance!.createRevision, first.instance!.createRevision);
      assert.ok(second.instance!.modRevision > first.instance!.modRevision);
      const list = await t.client.resolve({ service: "upsert" });
      assert.deepEqual(list.instances.map((i) => i.port), [2]);
      const status = await t.client.getStatus({});
      assert.ok(status.leases >= 1);
      // A retry that changes nothing is harmless: same revision, no event.
      const retry = await t.client.register({ service: "upsert", id: "u1", host: "h", port: 2, ttl: { seconds: 30n } });
      assert.equal(retry.instance!.modRevision, second.instance!.modRevision);
    });
  });

  describe("Revisions (SEMANTICS 3)", () => {
    let t: TestServer;
    before(async () => (t = await target.start()));
    after(() => t.close());

    it("gives each change the next revision: register, update, status change, deregister (3.1)", async () => {
      const r0 = (await t.client.getStatus({})).revision;
      const a = await t.client.register({ service: "rev", id: "a", host: "h", port: 1 });
      const b = await t.client.register({ service: "rev", id: "a", host: "h", port: 2 });
      await t.client.heartbeat((async function* () {
        yield { service: "rev", id: "a", status: InstanceStatus.STOPPING };
      })());
      const afterBeat = (await t.client.getStatus({})).revision;
      const d = await t.client.deregister({ service: "rev", id: "a" });
      assert.deepEqual([a.revision, b.revision, afterBeat, d.revision], [r0 + 1n, r0 + 2n, r0 + 3n, r0 + 4n]);
    });

    it("carries create and last-change revisions on instances, and the revision on every response (3.2)", async () => {
      const a = await t.client.register({ service: "rev2", id: "a", host: "h", port: 1 });
      const b = await t.client.register({ service: "rev2", id: "a", host: "h", port: 3 });
      const res = await t.client.resolve({ service: "rev2" });
      assert.equal(res.revision, b.revision);
      assert.equal(res.instances[0]!.createRevision, a.revision);
      assert.equal(res.instances[0]!.modRevision, b.revision);
      const w = collectWatch(t.client, { service: "rev2" });
      const events = await w.waitFor(2);
      await w.stop();
      assert.equal(events[0]!.type, WatchEventType.ADDED);
      assert.equal(events[0]!.revision, b.revision);
      assert.equal(events[1]!.type, WatchEventType.SNAPSHOT_COMPLETE);
      assert.equal(events[1]!.revision, res.revision);
      const services = await t.client.listServices({});
      assert.ok(services.revision >= res.revision);
    });
  });
}
