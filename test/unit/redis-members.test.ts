import { strict as assert } from "node:assert";
import type { MemberView } from "../../src/store/store.js";
import { RedisMembers, type MembersReply } from "../../src/store/redis/members.js";

/** A RedisMembers on a hand-driven clock whose renewals answer what the test queues (or fail). */
function members(leaseMs = 3000) {
  let now = 0;
  const replies: (MembersReply | Error)[] = [];
  const seen: (MemberView | undefined)[] = [];
  const rejoins: string[] = [];
  let left = 0;
  const m = new RedisMembers({
    self: "a",
    leaseMs,
    renewMs: 60_000,
    renew: async () => {
      const r = replies.shift() ?? new Error("Redis is unreachable");
      if (r instanceof Error) throw r;
      return r;
    },
    leave: async () => void left++,
    clock: () => now,
    onRejoin: (d) => rejoins.push(d),
  });
  m.onChange((v) => seen.push(v));
  return {
    m,
    seen,
    rejoins,
    left: () => left,
    tick: (ms: number) => (now += ms),
    answer: (epoch: bigint, nodes: string[], joined = false) => replies.push({ epoch, nodes, joined }),
  };
}

describe("Check membership of a Redis node (SEMANTICS 6.2)", () => {
  it("6.2 a node is a member from its first renewal, with the nodes sorted and the epoch Redis gave", async () => {
    const t = members();
    assert.equal(t.m.view(), undefined);
    t.answer(7n, ["c", "a", "b"], true);
    await t.m.renew();
    assert.deepEqual(t.m.view(), { nodes: ["a", "b", "c"], epoch: 7n });
    assert.deepEqual(t.seen, [{ nodes: ["a", "b", "c"], epoch: 7n }]);
    assert.deepEqual(t.rejoins, [], "a first join is no rejoin");
    t.answer(7n, ["a", "b", "c"]);
    await t.m.renew();
    assert.equal(t.seen.length, 1, "a renewal under the same epoch is no change");
    t.answer(8n, ["a", "b"]);
    await t.m.renew();
    assert.deepEqual(t.seen.at(-1), { nodes: ["a", "b"], epoch: 8n });
    await t.m.close();
  });

  it("6.2 when renewals fail, the view ends one lease after the last renewal was sent, by the node's own clock", async () => {
    const t = members(3000);
    t.answer(1n, ["a"], true);
    await t.m.renew();
    t.tick(1000);
    await t.m.renew(); // fails: Redis unreachable
    t.tick(1999);
    assert.ok(t.m.view(), "still within the lease");
    t.tick(1);
    assert.equal(t.m.view(), undefined, "the lease Redis holds may have ended: no longer a member");
    await t.m.close();
  });

  it("6.2 a node that wakes after its lease lapsed is told it is out, then rejoins under a new epoch", async () => {
    const t = members(3000);
    t.answer(1n, ["a", "b"], true);
    await t.m.renew();
    t.tick(10_000); // paused past its lease; another node dropped it meanwhile
    assert.equal(t.m.view(), undefined);
    t.answer(3n, ["a", "b"], true);
    await t.m.renew();
    assert.deepEqual(t.seen, [{ nodes: ["a", "b"], epoch: 1n }, undefined, { nodes: ["a", "b"], epoch: 3n }]);
    assert.equal(t.rejoins.length, 1);
    assert.match(t.rejoins[0]!, /dropped .* joined again under epoch 3/);
    await t.m.close();
  });

  it("6.2 a renewal whose answer comes back after the lease counts from when it was sent", async () => {
    let now = 0;
    let release!: () => void;
    const slow = new RedisMembers({
      self: "a",
      leaseMs: 3000,
      renewMs: 60_000,
      renew: () => new Promise<MembersReply>((r) => (release = () => r({ epoch: 1n, nodes: ["a"], joined: true }))),
      leave: async () => {},
      clock: () => now,
    });
    const pending = slow.renew();
    now = 3500;
    release();
    await pending;
    assert.equal(slow.view(), undefined);
    await slow.close();
  });

  it("6.2 close leaves the membership once, and only when the node was a member", async () => {
    const t = members();
    t.answer(1n, ["a"], true);
    await t.m.renew();
    await t.m.close();
    await t.m.close();
    assert.equal(t.left(), 1);
    assert.equal(t.seen.at(-1), undefined);
    const never = members();
    await never.m.close();
    assert.equal(never.left(), 0);
  });
});
