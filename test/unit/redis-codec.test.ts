import { strict as assert } from "node:assert";
import { pendingState } from "../../src/core/health.js";
import { CheckStatus, InstanceStatus, type CheckSpec, type CheckState } from "../../src/core/types.js";
import { httpCheck, spec } from "../../src/store/contract/index.js";
import { declaredChecks, decodeRecord, encodeHealth, encodeSpec } from "../../src/store/redis/codec.js";

const grpc: CheckSpec = {
  name: "g",
  kind: "grpc",
  port: 9090,
  intervalMs: 2000,
  timeoutMs: 1000,
  failuresBeforeUnhealthy: 3,
  successesBeforeHealthy: 2,
  initialDelayMs: 500,
  deregisterAfterMs: 60_000,
  grpc: { service: "pkg.Svc", tls: true, tlsSkipVerify: true },
};

/** A record as the scripts write it: the numbers, the health token, the spec part. */
function packed(health: readonly CheckState[], s = spec({ checks: [httpCheck("a&b=c,d"), grpc] })): string {
  return `7,9,1700000000000,1700000000500,3,${encodeHealth(health)},${encodeSpec(s)}`;
}

describe("Redis record codec with checks (issue 14)", () => {
  it("a record with checks round-trips: specs, committed and PENDING states, effective status", () => {
    const failing: CheckState = { name: "a&b=c,d", status: CheckStatus.FAILING, output: "HTTP 503: a, b & c = d ü", checkedAt: 1700000000400, since: 1700000000300 };
    const r = decodeRecord(packed([failing, pendingState("g", 1700000000000)]));
    assert.deepEqual(r.checks, [httpCheck("a&b=c,d"), grpc]);
    assert.deepEqual(r.health, [failing, pendingState("g", 1700000000000)]);
    assert.equal(r.reportedStatus, InstanceStatus.HEALTHY);
    assert.equal(r.status, InstanceStatus.UNHEALTHY);
    assert.deepEqual([r.createRevision, r.modRevision, r.load], [7n, 9n, 3]);
  });

  it("the health token holds no comma (the scripts split records on commas) and one entry per declared check", () => {
    const failing: CheckState = { name: "a&b=c,d", status: CheckStatus.FAILING, output: "x,y&z=w", checkedAt: 1, since: 1 };
    const token = encodeHealth([failing, pendingState("g", 5)]);
    assert.ok(!token.includes(","));
    assert.equal(token.split("&").length, 2);
    assert.equal(token.split("&")[1], "g=5");
    assert.equal(declaredChecks([httpCheck("a&b=c,d"), grpc]), "a%26b%3Dc%2Cd=&g=");
  });

  it("the spec part does not depend on the order metadata and headers were given in (a re-register that changes nothing is a string compare)", () => {
    const a = spec({ metadata: { x: "1", y: "2" }, checks: [httpCheck("h", { http: { path: "/", tls: false, tlsSkipVerify: false, expectedStatuses: [200], headers: { b: "2", a: "1" } } })] });
    const b = spec({ metadata: { y: "2", x: "1" }, checks: [httpCheck("h", { http: { headers: { a: "1", b: "2" }, expectedStatuses: [200], tlsSkipVerify: false, tls: false, path: "/" } })] });
    assert.equal(encodeSpec(a), encodeSpec(b));
    assert.notEqual(encodeSpec(a), encodeSpec(spec({ ...a, checks: [httpCheck("h")] })));
  });

  it("a record written before checks existed reads as one without checks", () => {
    const json = JSON.stringify(["default", "echo", "old", "10.0.0.1", 8080, [], [], 1, ""]);
    const r = decodeRecord(`5,6,1,2,0,${InstanceStatus.STOPPING},3000,${json}`);
    assert.deepEqual([r.checks, r.health, r.status, r.reportedStatus, r.ttlMs, r.id], [[], [], InstanceStatus.STOPPING, InstanceStatus.STOPPING, 3000, "old"]);
  });
});
