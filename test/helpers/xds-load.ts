import type { EchoClient } from "./echo-server.js";
import { say } from "./echo-server.js";

/** One call of a load loop: when it ended, and who answered or what failed. */
export interface LoadSample {
  readonly at: number;
  readonly instance?: string;
  readonly error?: string;
}

/** Calls in a loop (`concurrency` calls in flight) until stopped, keeping every result. */
export interface Load {
  readonly samples: LoadSample[];
  /** Samples that ended after `since` (performance.now()). */
  after(since: number): LoadSample[];
  stop(): Promise<void>;
}

/** Starts calling `client` in a loop, each call with a deadline of `deadlineMs`. */
export function startLoad(client: EchoClient, concurrency = 2, deadlineMs = 1000): Load {
  const samples: LoadSample[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const r = await say(client, deadlineMs);
      samples.push({ at: performance.now(), instance: r.instance, error: r.error?.details });
      if (r.error) await new Promise((res) => setTimeout(res, 5));
    }
  });
  return {
    samples,
    after: (since) => samples.filter((s) => s.at > since),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
