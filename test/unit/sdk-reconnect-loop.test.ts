import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff } from "../../src/core/backoff.js";
import { runReconnectLoop, type RetryDecision } from "../../src/sdk/reconnect-loop.js";
import { RosterClientError } from "../../src/sdk/roster-client-error.js";

/** Three nodes in a ring, recording every failover. */
function ring() {
  const nodes = ["a", "b", "c"];
  let i = 0;
  const failovers: string[] = [];
  return {
    failovers,
    current: () => nodes[i]!,
    failover: (broken: string) => {
      failovers.push(broken);
      if (nodes[i] === broken) i = (i + 1) % nodes.length;
    },
  };
}

/** An injected clock: waits are recorded and pass at once. */
function clock() {
  const waits: number[] = [];
  return { waits, delay: async (ms: number) => void waits.push(ms) };
}

const unavailable = new ConnectError("connection reset", Code.Unavailable);

describe("runReconnectLoop (the SDK's one reconnect loop)", () => {
  it("moves to the next node on a network failure and waits a growing backoff between attempts", async () => {
    const endpoints = ring();
    const { waits, delay } = clock();
    const ac = new AbortController();
    const tried: string[] = [];
    await runReconnectLoop({
      endpoints,
      backoff: new Backoff({ initialMs: 10, jitter: 0 }),
      signal: ac.signal,
      delay,
      attempt: async (ep) => {
        tried.push(ep);
        if (tried.length === 4) ac.abort();
        throw unavailable;
      },
      decide: () => ({ kind: "wait", failover: true }),
    });
    assert.deepEqual(tried, ["a", "b", "c", "a"]);
    assert.deepEqual(waits, [10, 20, 40]);
  });

  it("hands the owner a RosterClientError built from the registry's ConnectError, once", async () => {
    const seen: RosterClientError[] = [];
    const ac = new AbortController();
    await runReconnectLoop({
      endpoints: ring(),
      backoff: new Backoff({ jitter: 0 }),
      signal: ac.signal,
      delay: clock().delay,
      attempt: async () => {
        throw new ConnectError("instance default/x/1 not found", Code.NotFound);
      },
      decide: (e) => {
        seen.push(e);
        ac.abort();
        return { kind: "wait", failover: false };
      },
    });
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof RosterClientError);
    assert.deepEqual([seen[0].kind, seen[0].code, seen[0].message], ["not_found", Code.NotFound, "instance default/x/1 not found"]);
    assert.ok(seen[0].cause instanceof ConnectError);
  });

  it("starts the backoff over once an attempt reports the node healthy", async () => {
    const { waits, delay } = clock();
    const ac = new AbortController();
    let n = 0;
    await runReconnectLoop({
      endpoints: ring(),
      backoff: new Backoff({ initialMs: 10, jitter: 0 }),
      signal: ac.signal,
      delay,
      attempt: async (_ep, healthy) => {
        n++;
        if (n === 3) healthy();
        if (n === 5) ac.abort();
        throw unavailable;
      },
      decide: () => ({ kind: "wait", failover: true }),
    });
    assert.deepEqual(waits, [10, 20, 10, 20]);
  });

  it("retries at once on the same node for `now`, and counts a stream the registry ended as a failure", async () => {
    const endpoints = ring();
    const { waits, delay } = clock();
    const ac = new AbortController();
    const errors: string[] = [];
    let n = 0;
    await runReconnectLoop({
      endpoints,
      backoff: new Backoff({ jitter: 0 }),
      signal: ac.signal,
      delay,
      attempt: async () => {
        if (++n === 3) ac.abort();
      },
      decide: (e): RetryDecision => {
        errors.push(`${e.kind}: ${e.message}`);
        return { kind: "now" };
      },
    });
    assert.deepEqual(waits, []);
    assert.deepEqual(endpoints.failovers, []);
    assert.deepEqual(errors, ["unavailable: the registry ended the stream", "unavailable: the registry ended the stream"]);
  });

  it("stops with the error when the owner says stop, and reports each wait first", async () => {
    const retries: string[] = [];
    let n = 0;
    const stopped = await runReconnectLoop({
      endpoints: ring(),
      backoff: new Backoff({ initialMs: 5, jitter: 0 }),
      signal: new AbortController().signal,
      delay: clock().delay,
      attempt: async () => {
        throw ++n === 1 ? unavailable : new ConnectError("service: is required", Code.InvalidArgument);
      },
      decide: (e) => (e.kind === "refused" ? { kind: "stop" } : { kind: "wait", failover: true }),
      onRetry: (r) => retries.push(`${r.attempt} ${r.delayMs} ${r.endpoint} ${r.error.kind}`),
    });
    assert.deepEqual(retries, ["1 5 a unavailable"]);
    assert.equal(stopped?.kind, "refused");
    assert.equal(stopped?.code, Code.InvalidArgument);
  });

  it("ends without asking the owner when the signal aborts during an attempt, and at once during a real wait", async () => {
    const ac = new AbortController();
    let decided = 0;
    const result = await runReconnectLoop({
      endpoints: ring(),
      backoff: new Backoff(),
      signal: ac.signal,
      attempt: async () => {
        ac.abort();
        throw unavailable;
      },
      decide: () => (decided++, { kind: "wait", failover: true }),
    });
    assert.equal(result, undefined);
    assert.equal(decided, 0);

    const waiting = new AbortController();
    const t = Date.now();
    const loop = runReconnectLoop({
      endpoints: ring(),
      backoff: new Backoff({ initialMs: 60_000, jitter: 0 }),
      signal: waiting.signal,
      attempt: async () => {
        throw unavailable;
      },
      decide: () => ({ kind: "wait", failover: true }),
      onRetry: () => setImmediate(() => waiting.abort()),
    });
    assert.equal(await loop, undefined);
    assert.ok(Date.now() - t < 1000, "the 60 s wait ended with the signal");
  });
});
