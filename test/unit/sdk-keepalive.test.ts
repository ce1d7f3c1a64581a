import assert from "node:assert/strict";
import { detectionMs, keepaliveFor, maxPingIntervalMs, maxPingTimeoutMs, minPingMs } from "../../src/sdk/keepalive.js";

describe("keepaliveFor (SEMANTICS 2.2: beats leave a sick node within a third of the TTL)", () => {
  it("finds a dead connection within a third of the TTL", () => {
    for (const ttl of [1500, 3000, 10_000, 60_000, 180_000]) {
      const k = keepaliveFor(ttl);
      assert.ok(detectionMs(k) <= Math.ceil(ttl / 3) + 1, `TTL ${ttl}: ${JSON.stringify(k)}`);
    }
    assert.deepEqual(keepaliveFor(10_000), { pingIntervalMs: 1667, pingTimeoutMs: 1667 });
  });

  it("never pings faster than the floor, nor slower than the caps", () => {
    assert.deepEqual(keepaliveFor(100), { pingIntervalMs: minPingMs, pingTimeoutMs: minPingMs });
    assert.deepEqual(keepaliveFor(3_600_000), { pingIntervalMs: maxPingIntervalMs, pingTimeoutMs: maxPingTimeoutMs });
  });
});
