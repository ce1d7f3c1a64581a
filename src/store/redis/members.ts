import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { CheckMembers, MemberView } from "../store.js";

/** What one run of the `members` script answered. */
export interface MembersReply {
  readonly epoch: bigint;
  /** True when this node was not a member before the run: its first join, or a rejoin after its lease lapsed. */
  readonly joined: boolean;
  readonly nodes: readonly string[];
}

/** How a RedisMembers talks to Redis and keeps time. */
export interface RedisMembersOptions {
  /** This node's id (see `memberId`). */
  readonly self: string;
  /** How long a renewal keeps this node a member (`check-member-lease-ms`). */
  readonly leaseMs: number;
  /** How often this node renews (`check-member-renew-ms`), well under the lease. */
  readonly renewMs: number;
  /** Runs the `members` script: renews this node, drops lapsed members. Rejects when Redis cannot take it. */
  readonly renew: () => Promise<MembersReply>;
  /** Runs the `leave` script. */
  readonly leave: () => Promise<void>;
  /** Monotonic milliseconds (tests inject one); `performance.now` by default. */
  readonly clock?: () => number;
  /** Told when this node found it had been dropped and joined again, with a sentence for the log. */
  readonly onRejoin?: (detail: string) => void;
}

/** A node id as the membership knows it: `<hostname>-<pid>-<random>`, fresh at every start, so a restarted node is a new member. */
export function memberId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/**
 * This node's place among the registry nodes that share the active health
 * checks (issue 14), kept in Redis by the `members` and `leave` scripts (see
 * redis/scripts.ts): a lease per node on Redis's clock, renewed every
 * `renewMs`, and an epoch that goes up whenever the set changes.
 *
 * The view is undefined once `leaseMs` has passed since the renewal behind it
 * was sent, by this node's clock: Redis started that lease later than it was
 * sent, so this node stops taking itself for a member no later than Redis
 * does (a paused node wakes up knowing it is out). The next renewal brings it
 * back, under a new epoch if it had been dropped meanwhile. Commits are fenced
 * in Redis anyway (see `setCheck`); the view only keeps a node that is out from
 * running checks it no longer owns.
 */
export class RedisMembers implements CheckMembers {
  readonly self: string;
  readonly #o: RedisMembersOptions;
  readonly #clock: () => number;
  readonly #listeners = new Set<(view: MemberView | undefined) => void>();
  /** The last answer of Redis, and when (local clock) the renewal behind it was sent. */
  #current: MemberView | undefined;
  #sentAt = 0;
  /** What listeners were last told. */
  #published: MemberView | undefined;
  #renewing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lapse: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RedisMembersOptions) {
    this.#o = options;
    this.self = options.self;
    this.#clock = options.clock ?? (() => performance.now());
  }

  view(): MemberView | undefined {
    return this.#current !== undefined && this.#clock() - this.#sentAt < this.#o.leaseMs ? this.#current : undefined;
  }

  onChange(listener: (view: MemberView | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Joins at once, then renews every `renewMs` until `close`. Resolves after the first renewal, joined or not. */
  start(): Promise<void> {
    const first = this.renew();
    void first.finally(() => this.#schedule());
    return first;
  }

  /**
   * One renewal now (the timer calls it; tests too). A failed one leaves the
   * view as it was until its lease lapses; the next one tries again.
   */
  renew(): Promise<void> {
    this.#renewing ??= this.#renewOnce().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  /** Stops renewing and leaves the membership (its checks move to the other nodes at once). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#lapse);
    await this.#renewing;
    const wasMember = this.view() !== undefined;
    this.#current = undefined;
    this.#publish();
    this.#listeners.clear();
    if (wasMember) await this.#o.leave().catch(() => {});
  }

  async #renewOnce(): Promise<void> {
    this.#publish(); // a lapse noticed late (the node was paused) is told before the rejoin
    const sentAt = this.#clock();
    let reply: MembersReply;
    try {
      reply = await this.#o.renew();
    } catch {
      return;
    }
    if (this.#closed) return;
    if (reply.joined && this.#current !== undefined) {
      this.#o.onRejoin?.(`node ${this.self} had been dropped from the check membership (lease lapsed); joined again under epoch ${reply.epoch}`);
    }
    this.#current = { nodes: [...reply.nodes].sort(), epoch: reply.epoch };
    this.#sentAt = sentAt;
    clearTimeout(this.#lapse);
    this.#lapse = setTimeout(() => this.#publish(), Math.max(0, sentAt + this.#o.leaseMs - this.#clock()) + 1);
    this.#lapse.unref();
    this.#publish();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.renew().finally(() => this.#schedule()), this.#o.renewMs);
    this.#timer.unref();
  }

  /** Tells listeners when membership (undefined, or another epoch) changed since they were last told. */
  #publish(): void {
    const v = this.view();
    const before = this.#published;
    this.#published = v;
    if (v?.epoch === before?.epoch && (v === undefined) === (before === undefined)) return;
    for (const l of [...this.#listeners]) l(v);
  }
}
