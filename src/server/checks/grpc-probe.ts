import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../../gen/grpc/health/v1/health_pb.js";
import { Backoff } from "../../core/backoff.js";
import { delay } from "../../core/delay.js";
import { formatHostPort } from "../../core/host-port.js";
import { GuardedSessionManager } from "../../sdk/guarded-session-manager.js";
import { errorText, excerpt, type ProbeResult } from "./probe-result.js";

/** Which grpc.health.v1 stream a gRPC check reads. */
export interface GrpcTarget {
  readonly host: string;
  readonly port: number;
  /** The service name asked about; "" is the server as a whole. */
  readonly service: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
}

/** How the stream to one target is kept. */
export interface GrpcWatchOptions {
  /** HTTP/2 PING interval: a target whose process hangs (its kernel still holds the connection) is noticed within this plus the timeout. */
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
}

function targetKey(t: GrpcTarget): string {
  return `${t.tls ? (t.tlsSkipVerify ? "https-any" : "https") : "http"}://${formatHostPort(t.host, t.port)}#${t.service}`;
}

function servingName(s: Serving): string {
  return Serving[s] ?? String(s);
}

/**
 * One long-lived grpc.health.v1 Watch to one target, re-opened with backoff
 * when it breaks. A probe reads the latest status rather than dialling the
 * target again: thousands of gRPC checks cost one stream each, and a change
 * is known as soon as the target sends it. SERVING passes; any other status,
 * or a stream that is down, fails. A target that does not implement Watch
 * (UNIMPLEMENTED) is asked with one Check per probe instead.
 */
export class GrpcHealthWatch {
  readonly #target: GrpcTarget;
  readonly #stop = new AbortController();
  readonly #sessions: GuardedSessionManager;
  readonly #client: Client<typeof Health>;
  #latest: Serving | undefined;
  #down = "connecting";
  #unaryOnly = false;
  readonly #waiters = new Set<() => void>();

  constructor(target: GrpcTarget, options: GrpcWatchOptions) {
    this.#target = target;
    const baseUrl = `${target.tls ? "https" : "http"}://${formatHostPort(target.host, target.port)}`;
    this.#sessions = new GuardedSessionManager(
      baseUrl,
      // Pings only while the Watch is open: connect-node 2.1 can ping a session it already destroyed when idle connections are pinged too.
      { pingIntervalMs: options.pingIntervalMs, pingTimeoutMs: options.pingTimeoutMs },
      target.tls ? { rejectUnauthorized: !target.tlsSkipVerify } : {},
    );
    this.#client = createClient(Health, createGrpcTransport({ baseUrl, sessionManager: this.#sessions }));
    void this.#run();
  }

  /** The latest status, or why there is none: "SERVING", "NOT_SERVING", "stream down: ...". */
  get state(): string {
    return this.#latest !== undefined ? servingName(this.#latest) : `stream down: ${this.#down}`;
  }

  /**
   * The current verdict. While the stream has not yet said anything since
   * it (re)opened, waits up to `timeoutMs` for the first status.
   */
  async probe(timeoutMs: number, outputBytes: number): Promise<ProbeResult> {
    const name = this.#target.service === "" ? "server" : `service "${this.#target.service}"`;
    if (this.#unaryOnly) {
      try {
        const res = await this.#client.check({ service: this.#target.service }, { timeoutMs, signal: this.#stop.signal });
        return { passed: res.status === Serving.SERVING, output: excerpt(`gRPC health of ${name}: ${servingName(res.status)}`, outputBytes) };
      } catch (e) {
        return { passed: false, output: excerpt(`gRPC health of ${name}: ${ConnectError.from(e).message}`, outputBytes) };
      }
    }
    if (this.#latest === undefined) await this.#waitForStatus(timeoutMs);
    const latest = this.#latest;
    return { passed: latest === Serving.SERVING, output: excerpt(`gRPC health of ${name}: ${this.state}`, outputBytes) };
  }

  /** Ends the stream and closes the connection. */
  close(): void {
    this.#stop.abort();
    this.#sessions.abort();
    for (const w of this.#waiters) w();
  }

  #waitForStatus(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  #set(status: Serving | undefined, down?: string): void {
    this.#latest = status;
    if (down !== undefined) this.#down = down;
    if (status !== undefined) for (const w of this.#waiters) w();
  }

  async #run(): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        for await (const res of this.#client.watch({ service: this.#target.service }, { signal })) {
          this.#set(res.status);
          backoff.reset();
        }
        this.#set(undefined, "the target ended the stream");
      } catch (e) {
        if (signal.aborted) return;
        const err = ConnectError.from(e);
        if (err.code === Code.Unimplemented) {
          // A server with Check only: probes ask it directly from now on.
          this.#unaryOnly = true;
          for (const w of this.#waiters) w();
          return;
        }
        this.#set(undefined, errorText(err));
      }
      await delay(backoff.next(), signal);
    }
  }
}

/**
 * The gRPC health streams this node keeps, one per target, shared by every
 * check that reads it and closed when the last of them lets go.
 */
export class GrpcHealthWatches {
  readonly #watches = new Map<string, { watch: GrpcHealthWatch; users: number }>();

  /** Open streams. */
  get size(): number {
    return this.#watches.size;
  }

  /**
   * The stream to `target`, opened with `options` if none is (a stream
   * already open keeps the options it was opened with); pair each call with
   * one `release`.
   */
  acquire(target: GrpcTarget, options: GrpcWatchOptions): GrpcHealthWatch {
    const key = targetKey(target);
    let entry = this.#watches.get(key);
    if (entry === undefined) {
      entry = { watch: new GrpcHealthWatch(target, options), users: 0 };
      this.#watches.set(key, entry);
    }
    entry.users++;
    return entry.watch;
  }

  /** Lets go of `target`'s stream; the last user closes it. */
  release(target: GrpcTarget): void {
    const key = targetKey(target);
    const entry = this.#watches.get(key);
    if (entry === undefined) return;
    if (--entry.users === 0) {
      this.#watches.delete(key);
      entry.watch.close();
    }
  }

  /** Closes every stream. */
  close(): void {
    for (const { watch } of this.#watches.values()) watch.close();
    this.#watches.clear();
  }
}
