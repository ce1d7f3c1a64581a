import { LeaseHeap, type HeapEntry } from "../../store/lease-heap.js";

/** Time and timers, injected so tests run the scheduler on a fake clock. */
export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock; its timer does not by itself keep the process alive. */
export const realClock: SchedulerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** How one check is timed. */
export interface Cadence {
  readonly intervalMs: number;
  /** Wait before the first run; a random part of one interval is added to it. */
  readonly initialDelayMs: number;
}

/** What the scheduler runs and how much at once. */
export interface CheckSchedulerOptions {
  /** Runs one check; the scheduler counts it in flight until the promise settles (it must not reject). */
  readonly run: (id: string) => Promise<void>;
  /** Most runs in flight at once (max-concurrent-probes); the rest wait their turn. */
  readonly maxConcurrent: number;
  readonly clock?: SchedulerClock;
  /** Numbers in [0, 1) for the phase of each check; default Math.random. */
  readonly random?: () => number;
  /** Told each time a due run has to wait for a free slot. */
  readonly onWait?: () => void;
  /** Told each time a due run is skipped because the previous run of that check is still going. */
  readonly onOverrun?: () => void;
}

interface Slot {
  readonly cadence: Cadence;
  due: number;
  queued: boolean;
}

interface Due extends HeapEntry {
  readonly slot: Slot;
}

/**
 * Runs each check at a fixed rate from its own phase: the first run at
 * `initialDelayMs` plus a random part of one interval after it was added,
 * then every interval from that phase (not from when the last run ended, so
 * a slow probe does not drift the schedule). The random phase is what keeps
 * thousands of checks registered together from firing in the same
 * millisecond. At most `maxConcurrent` runs are in flight; the rest wait in
 * order, and a check whose previous run has not ended skips its turn. One
 * timer serves every check (a min-heap of due times).
 */
export class CheckScheduler {
  readonly #options: CheckSchedulerOptions;
  readonly #clock: SchedulerClock;
  readonly #random: () => number;
  readonly #slots = new Map<string, Slot>();
  readonly #heap = new LeaseHeap();
  readonly #waiting: string[] = [];
  readonly #running = new Set<string>();
  #inFlight = 0;
  #timer: unknown;
  #timerAt = Infinity;
  #closed = false;

  constructor(options: CheckSchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#random = options.random ?? Math.random;
  }

  /** Checks scheduled. */
  get size(): number {
    return this.#slots.size;
  }

  /** Runs in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Due runs waiting for a free slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** True when `id` is scheduled. */
  has(id: string): boolean {
    return this.#slots.has(id);
  }

  /** Schedules `id`; a check already scheduled with the same cadence keeps its phase. */
  add(id: string, cadence: Cadence): void {
    if (this.#closed) return;
    const old = this.#slots.get(id);
    if (old !== undefined && old.cadence.intervalMs === cadence.intervalMs && old.cadence.initialDelayMs === cadence.initialDelayMs) return;
    const slot: Slot = { cadence, due: this.#clock.now() + cadence.initialDelayMs + Math.floor(this.#random() * cadence.intervalMs), queued: false };
    this.#slots.set(id, slot);
    this.#push(id, slot);
  }

  /** Stops scheduling `id` (a run in flight finishes). */
  remove(id: string): void {
    this.#slots.delete(id);
  }

  /** Stops every timer; runs in flight finish, nothing new starts. */
  close(): void {
    this.#closed = true;
    this.#slots.clear();
    this.#waiting.length = 0;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #push(key: string, slot: Slot): void {
    this.#heap.push({ deadline: slot.due, key, slot } as Due);
    this.#arm();
  }

  #arm(): void {
    const next = this.#heap.peek();
    if (next === undefined || this.#closed) return;
    if (this.#timer !== undefined && this.#timerAt <= next.deadline) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = next.deadline;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, next.deadline - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    for (let top = this.#heap.peek(); top !== undefined && top.deadline <= now; top = this.#heap.peek()) {
      const { key, slot, deadline } = this.#heap.pop() as Due;
      // Entries of removed or re-added checks are dropped here rather than searched for in the heap.
      if (this.#slots.get(key) !== slot || slot.due !== deadline) continue;
      const interval = slot.cadence.intervalMs;
      // Fixed rate from the phase; turns missed while the loop was blocked are skipped, not bunched.
      slot.due += interval * (Math.floor((now - slot.due) / interval) + 1);
      this.#push(key, slot);
      this.#dispatch(key, slot);
    }
    this.#arm();
  }

  #dispatch(key: string, slot: Slot): void {
    if (this.#running.has(key) || slot.queued) {
      this.#options.onOverrun?.();
      return;
    }
    if (this.#inFlight >= this.#options.maxConcurrent) {
      slot.queued = true;
      this.#waiting.push(key);
      this.#options.onWait?.();
      return;
    }
    this.#start(key);
  }

  #start(key: string): void {
    this.#running.add(key);
    this.#inFlight++;
    void this.#options.run(key).finally(() => {
      this.#running.delete(key);
      this.#inFlight--;
      this.#next();
    });
  }

  #next(): void {
    while (this.#inFlight < this.#options.maxConcurrent && this.#waiting.length > 0) {
      const key = this.#waiting.shift()!;
      const slot = this.#slots.get(key);
      if (slot === undefined || !slot.queued) continue;
      slot.queued = false;
      this.#start(key);
    }
  }
}
