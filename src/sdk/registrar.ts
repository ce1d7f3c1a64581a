import type { ClientSecurity } from "./client-security.js";
import { EventEmitter } from "node:events";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { InstanceStatus, RegisterRequestSchema, type HealthCheckSchema, type HeartbeatRequestSchema, type RegisterRequest } from "../../gen/roster/v1/registry_pb.js";
import { DEFAULT_NAMESPACE, type InstanceKey, type InstanceRecord } from "../core/types.js";
import { Backoff, type BackoffOptions } from "../core/backoff.js";
import { delay } from "../core/delay.js";
import { durationFromMs } from "../core/duration.js";
import { instanceFromProto } from "./instance-from-proto.js";
import { detectionMs, keepaliveFor, type Keepalive } from "./keepalive.js";
import { runReconnectLoop, type RetryDecision } from "./reconnect-loop.js";
import { RegistryEndpoints, type RegistryAddresses, type RegistryEndpoint } from "./registry-endpoints.js";
import { RosterClientError } from "./roster-client-error.js";

/** What a service says about one of its instances. */
export interface RegistrationSpec {
  /** Defaults to "default". */
  readonly namespace?: string;
  readonly service: string;
  /** Left out, the registry assigns one; the SDK keeps it for re-registrations. */
  readonly id?: string;
  readonly host: string;
  readonly port: number;
  /** Defaults to HEALTHY. */
  readonly status?: InstanceStatus;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly weight?: number;
  readonly zone?: string;
  /**
   * Lease length in milliseconds; default 10 000. 0 registers without a
   * lease (SEMANTICS 2.5). The connection carrying the instance's beats is
   * pinged every TTL/6 and given up after another TTL/6 without an answer,
   * so beats move off a stalled or cut-off node within a third of the TTL.
   */
  readonly ttlMs?: number;
  /** Time between beats; default a third of the TTL (10 s without a lease). */
  readonly heartbeatIntervalMs?: number;
  /**
   * Active checks the registry runs against the instance (SEMANTICS 6.2),
   * at most the registry's max-checks-per-instance. With them an instance
   * can register without a lease (`ttlMs: 0`) and still be marked UNHEALTHY
   * when it stops answering.
   */
  readonly checks?: readonly CheckDeclaration[];
}

/**
 * An active check, as a service declares it. Left-out fields take the
 * registry's defaults: interval 10 s, timeout 5 s (at most the interval), 3
 * failures in a row before FAILING, 2 successes before PASSING, the
 * instance's own port, HTTP path "/health".
 *
 * @example
 * { kind: "http", path: "/healthz", intervalMs: 5000 }
 * { kind: "grpc", service: "echo.v1.Echo" }
 * { kind: "tcp", deregisterAfterMs: 600_000 }
 */
export type CheckDeclaration = CheckTiming &
  (
    | {
        readonly kind: "http";
        readonly path?: string;
        /** HTTPS; with `tlsSkipVerify`, any certificate is accepted. */
        readonly tls?: boolean;
        readonly tlsSkipVerify?: boolean;
        /** Statuses that pass instead of any 2xx. */
        readonly expectedStatuses?: readonly number[];
        readonly headers?: Readonly<Record<string, string>>;
      }
    | { readonly kind: "tcp" }
    | {
        readonly kind: "grpc";
        /** The grpc.health.v1 service name; "" (the default) asks about the server as a whole. */
        readonly service?: string;
        readonly tls?: boolean;
        readonly tlsSkipVerify?: boolean;
      }
  );

/** What every kind of check shares. */
export interface CheckTiming {
  /** Unique within the instance; default the kind ("http"), with its position when a kind repeats. */
  readonly name?: string;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly failuresBeforeUnhealthy?: number;
  readonly successesBeforeHealthy?: number;
  /** Wait before the first probe; the registry adds a random part of one interval. */
  readonly initialDelayMs?: number;
  /** Remove the instance once the check has been FAILING this long; default never. */
  readonly deregisterAfterMs?: number;
  /** The port to probe; default the instance's port (another needs a registry started with check-any-port). */
  readonly port?: number;
}

/** A check declaration as the HealthCheck message of a Register request. */
export function checkMessage(c: CheckDeclaration): MessageInitShape<typeof HealthCheckSchema> {
  let kind: MessageInitShape<typeof HealthCheckSchema>["kind"];
  switch (c.kind) {
    case "http":
      kind = { case: "http", value: { path: c.path ?? "", tls: c.tls ?? false, tlsSkipVerify: c.tlsSkipVerify ?? false, expectedStatuses: [...(c.expectedStatuses ?? [])], headers: { ...c.headers } } };
      break;
    case "grpc":
      kind = { case: "grpc", value: { service: c.service ?? "", tls: c.tls ?? false, tlsSkipVerify: c.tlsSkipVerify ?? false } };
      break;
    case "tcp":
      kind = { case: "tcp", value: {} };
      break;
  }
  return {
    name: c.name ?? "",
    kind,
    interval: durationFromMs(c.intervalMs ?? 0),
    timeout: durationFromMs(c.timeoutMs ?? 0),
    failuresBeforeUnhealthy: c.failuresBeforeUnhealthy ?? 0,
    successesBeforeHealthy: c.successesBeforeHealthy ?? 0,
    initialDelay: durationFromMs(c.initialDelayMs ?? 0),
    deregisterAfter: durationFromMs(c.deregisterAfterMs ?? 0),
    port: c.port ?? 0,
  };
}

/** Options of a Registrar. */
export interface RegistrarOptions {
  /** Registry nodes, tried in order on failure; default ROSTER_REGISTRY, then 127.0.0.1:7420. */
  readonly registry?: RegistryAddresses;
  /** Reconnect delays; the longest delay is also capped at the beat interval of each instance. */
  readonly backoff?: BackoffOptions;
  /** Deadline of Register and Deregister calls, in milliseconds; default 5000. */
  readonly callTimeoutMs?: number;
  /** TLS roots, client certificate and token; default from the environment (see `securityFromEnv`). */
  readonly security?: ClientSecurity;
}

/** Where a registration stands. */
export type RegistrationState = "registering" | "registered" | "reconnecting" | "closed";

/** What went wrong before a reconnect. */
export interface ReconnectInfo {
  /** Failed attempts in a row, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The node that failed. */
  readonly registry: string;
  readonly error: RosterClientError;
}

/** Events of one registration. */
export interface RegistrationEvents {
  /** Registered (first time, or again after the registry lost the instance). */
  registered: [instance: InstanceRecord, created: boolean];
  /** The stream or a call failed; the SDK retries after `delayMs` (on the next node, for a network failure). */
  reconnecting: [info: ReconnectInfo];
  /** The registry no longer knows the instance (it expired, or a memory registry restarted); the SDK re-registers. */
  lost: [error: RosterClientError];
  /** A refusal that retrying will not fix, or a failed deregistration. Only emitted when someone listens. */
  error: [error: RosterClientError];
}

/** Registrar events: those of every registration, with the registration first. */
export type RegistrarEvents = { [K in keyof RegistrationEvents]: [registration: Registration, ...RegistrationEvents[K]] };

/** The lease of an instance registered without a TTL, for its keepalive: three of its beat intervals. */
const noLeaseKeepaliveBudgetMs = 30_000;

/**
 * The serving side of the SDK: registers instances and keeps them alive.
 * Every instance gets its own Heartbeat stream, and all streams to one
 * registry node share one HTTP/2 connection.
 *
 * @example
 * const registrar = new Registrar({ registry: "10.0.0.5:7420,10.0.0.6:7420" });
 * const me = await registrar.register({ service: "echo", host: "10.0.1.7", port: 50051 });
 * me.setLoad(inFlight);
 * drainOnSignal(registrar, { waitMs: 5000 });
 */
export class Registrar extends EventEmitter<RegistrarEvents> {
  readonly #endpoints: RegistryEndpoints;
  readonly #options: RegistrarOptions;
  readonly #registrations = new Set<Registration>();
  #closed = false;

  constructor(options: RegistrarOptions = {}) {
    super();
    this.#options = options;
    this.#endpoints = new RegistryEndpoints(options.registry, options.security !== undefined ? { security: options.security } : {});
  }

  /** The registrations that are not closed. */
  get registrations(): readonly Registration[] {
    return [...this.#registrations];
  }

  /**
   * Registers an instance and keeps it registered until `close()`. Resolves
   * once the registry has it; while no node answers, it keeps retrying (see
   * the `reconnecting` event). Rejects when the registry refuses the spec
   * (a RosterClientError of kind `refused`), since no retry would change the answer.
   */
  async register(spec: RegistrationSpec): Promise<Registration> {
    if (this.#closed) throw new RosterClientError("closed", "the registrar is closed");
    const r = new Registration(spec, this.#endpoints, this.#options, (reg) => this.#registrations.delete(reg));
    for (const event of ["registered", "reconnecting", "lost", "error"] as const) {
      r.on(event, (...args: unknown[]) => {
        if (event !== "error" || this.listenerCount("error") > 0) (this.emit as (e: string, ...a: unknown[]) => boolean)(event, r, ...args);
      });
    }
    this.#registrations.add(r);
    await r.started;
    return r;
  }

  /** Deregisters every instance and closes the connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#registrations].map((r) => r.close()));
    this.#endpoints.close();
  }
}

/**
 * One registered instance, kept alive by its Heartbeat stream. Obtained from
 * `Registrar.register`.
 */
export class Registration extends EventEmitter<RegistrationEvents> {
  /** Settles when the first Register succeeds (or is refused for good). */
  readonly started: Promise<void>;
  readonly #spec: RegistrationSpec;
  readonly #endpoints: RegistryEndpoints;
  readonly #callTimeoutMs: number;
  readonly #intervalMs: number;
  readonly #keepalive: Keepalive;
  readonly #backoff: Backoff;
  readonly #closing = new AbortController();
  readonly #onClosed: (r: Registration) => void;
  readonly #loop: Promise<void>;
  #id: string;
  #status: InstanceStatus;
  #sentStatus: InstanceStatus | undefined;
  #load: number | undefined;
  #state: RegistrationState = "registering";
  #instance: InstanceRecord | undefined;
  #kick: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  /** @internal Use `Registrar.register`. */
  constructor(spec: RegistrationSpec, endpoints: RegistryEndpoints, options: RegistrarOptions, onClosed: (r: Registration) => void) {
    super();
    this.#spec = spec;
    this.#endpoints = endpoints;
    this.#onClosed = onClosed;
    this.#callTimeoutMs = options.callTimeoutMs ?? 5000;
    const ttlMs = spec.ttlMs ?? 10_000;
    this.#intervalMs = spec.heartbeatIntervalMs ?? (ttlMs > 0 ? Math.max(100, Math.floor(ttlMs / 3)) : 10_000);
    this.#keepalive = keepaliveFor(ttlMs > 0 ? ttlMs : noLeaseKeepaliveBudgetMs);
    // A restarted registry must see the instance again within one beat interval (SEMANTICS 7.1), so no wait may exceed it.
    this.#backoff = new Backoff({ ...options.backoff, maxMs: Math.min(options.backoff?.maxMs ?? 5000, this.#intervalMs) });
    this.#id = spec.id ?? "";
    this.#status = spec.status ?? InstanceStatus.HEALTHY;
    let started!: { resolve: () => void; reject: (e: unknown) => void };
    this.started = new Promise((resolve, reject) => (started = { resolve, reject }));
    this.#loop = this.#run(started);
  }

  /** The instance id (assigned by the registry when the spec had none). */
  get id(): string {
    return this.#id;
  }

  /** The identity of the instance. */
  get key(): InstanceKey {
    return { namespace: this.#spec.namespace || DEFAULT_NAMESPACE, service: this.#spec.service, id: this.#id };
  }

  get state(): RegistrationState {
    return this.#state;
  }

  /** The instance as the registry returned it from the last Register. */
  get instance(): InstanceRecord | undefined {
    return this.#instance;
  }

  /** The status this instance reports. */
  get status(): InstanceStatus {
    return this.#status;
  }

  /**
   * Reports a new status. It goes out on a beat sent at once rather than
   * waiting for the next interval: a drain that sets STOPPING wants callers
   * to stop picking the instance now (SEMANTICS 6.1).
   */
  setStatus(status: InstanceStatus): void {
    this.#status = status;
    this.#kick?.();
  }

  /** Reports the instance's load (in-flight requests) on the next regular beat. */
  setLoad(load: number): void {
    this.#load = Math.max(0, Math.round(load));
  }

  /**
   * Ends the Heartbeat stream and deregisters the instance, so watchers see
   * it leave at once (SEMANTICS 2.3). A failed deregistration is reported as
   * an `error` event; the lease then runs out by itself.
   */
  close(): Promise<void> {
    return (this.#closed ??= (async () => {
      this.#state = "closed";
      this.#closing.abort();
      await this.#loop;
      this.#onClosed(this);
      if (this.#id === "" || this.#instance === undefined) return;
      let failure: RosterClientError | undefined;
      for (let i = 0; i < this.#endpoints.urls.length; i++) {
        const ep = this.#endpoints.current(this.#keepalive);
        try {
          await ep.client.deregister(this.key, { timeoutMs: this.#callTimeoutMs });
          return;
        } catch (e) {
          failure = RosterClientError.from(e);
          if (failure.kind === "not_found") return;
          this.#endpoints.failover(ep);
        }
      }
      if (failure) this.#error(failure);
    })());
  }

  async #run(started: { resolve: () => void; reject: (e: unknown) => void }): Promise<void> {
    const closing = this.#closing.signal;
    let registered = false;
    let everRegistered = false;
    let lostInARow = 0;
    const decide = (error: RosterClientError): RetryDecision => {
      if (error.kind === "not_found" && registered) {
        registered = false;
        this.emit("lost", error);
        // The first loss is answered at once; only a registry that keeps forgetting us gets backoff.
        return lostInARow++ === 0 ? { kind: "now" } : { kind: "wait", failover: false };
      }
      if (error.kind === "refused") {
        if (!everRegistered) return { kind: "stop" };
        this.#error(error);
        return { kind: "wait", failover: false };
      }
      return { kind: "wait", failover: true };
    };
    const refusal = await runReconnectLoop({
      endpoints: { current: () => this.#endpoints.current(this.#keepalive), failover: (ep) => this.#endpoints.failover(ep) },
      backoff: this.#backoff,
      signal: closing,
      decide,
      onRetry: ({ attempt, delayMs, endpoint, error }) => {
        this.#state = "reconnecting";
        this.emit("reconnecting", { attempt, delayMs, registry: endpoint.url, error });
      },
      attempt: async (ep, healthy) => {
        if (!registered) {
          const res = await ep.client.register(this.#registerRequest(), { signal: closing, timeoutMs: this.#callTimeoutMs });
          this.#instance = instanceFromProto(res.instance!);
          this.#id = this.#instance.id;
          this.#sentStatus = this.#instance.status;
          registered = everRegistered = true;
          this.#state = "registered";
          started.resolve();
          this.emit("registered", this.#instance, res.created);
        }
        await this.#heartbeat(ep, () => {
          healthy();
          lostInARow = 0;
          this.#state = "registered";
        });
      },
    });
    if (refusal !== undefined) {
      this.#state = "closed";
      started.reject(refusal);
      this.#onClosed(this);
      return;
    }
    started.reject(new RosterClientError("closed", "closed before the instance was registered"));
  }

  /** Runs one Heartbeat stream until it fails or the registration closes. */
  async #heartbeat(ep: RegistryEndpoint, healthy: () => void): Promise<void> {
    const stream = new AbortController();
    const onClose = () => stream.abort();
    this.#closing.signal.addEventListener("abort", onClose, { once: true });
    // A stream that outlives a beat interval and a keepalive check proves the node works: later failures start the backoff over.
    const proven = setTimeout(healthy, Math.max(this.#intervalMs, detectionMs(this.#keepalive)) + 50);
    try {
      await ep.client.heartbeat(this.#beats(stream.signal), { signal: stream.signal });
    } finally {
      clearTimeout(proven);
      stream.abort();
      this.#closing.signal.removeEventListener("abort", onClose);
      this.#kick = undefined;
    }
  }

  async *#beats(signal: AbortSignal): AsyncGenerator<MessageInitShape<typeof HeartbeatRequestSchema>> {
    // The first message names the instance and restates the status, so a node reached after a failover has it right.
    this.#sentStatus = this.#status;
    yield { ...this.key, status: this.#status, ...(this.#load !== undefined ? { load: this.#load } : {}) };
    // `wake` cuts a wait short, for the stream's end or for a status change (setStatus kicks).
    let wake = new AbortController();
    signal.addEventListener("abort", () => wake.abort(), { once: true });
    this.#kick = () => wake.abort();
    while (!signal.aborted) {
      await delay(this.#intervalMs, wake.signal);
      if (signal.aborted) return;
      // Renewed before the status is read, so a kick from here on wakes the next wait.
      if (wake.signal.aborted) wake = new AbortController();
      const status = this.#status !== this.#sentStatus ? this.#status : InstanceStatus.UNSPECIFIED;
      this.#sentStatus = this.#status;
      yield { status, ...(this.#load !== undefined ? { load: this.#load } : {}) };
    }
  }

  #registerRequest(): RegisterRequest {
    const s = this.#spec;
    const ttlMs = s.ttlMs ?? 10_000;
    return create(RegisterRequestSchema, {
      namespace: s.namespace ?? "",
      service: s.service,
      id: this.#id,
      host: s.host,
      port: s.port,
      status: this.#status,
      tags: [...(s.tags ?? [])],
      metadata: { ...s.metadata },
      weight: s.weight ?? 0,
      zone: s.zone ?? "",
      ttl: durationFromMs(ttlMs),
      checks: (s.checks ?? []).map(checkMessage),
    });
  }

  #error(error: RosterClientError): void {
    // EventEmitter throws an unheard "error"; a registration problem must never crash the service it describes.
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }
}
