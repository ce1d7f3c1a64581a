import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import {
  CheckerStatusSchema,
  DeregisterResponseSchema,
  GetStatusResponseSchema,
  HeartbeatResponseSchema,
  ListServicesResponseSchema,
  RegisterResponseSchema,
  RegistryService,
  ServiceSummarySchema,
  Strategy,
  type CheckerStatus,
  type DeregisterRequest,
  type DeregisterResponse,
  type GetStatusRequest,
  type GetStatusResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type ListServicesRequest,
  type ListServicesResponse,
  type RegisterRequest,
  type RegisterResponse,
  type ResolveRequest,
  type ResolveResponse,
  type WatchRequest,
  type WatchResponse,
  type XdsStatus,
} from "../../gen/roster/v1/registry_pb.js";
import type { Limits, Timing } from "../config.js";
import { RosterError, invalidArgument, toConnectError } from "../errors.js";
import { matches } from "../core/filter.js";
import { Picker, type PickStrategy } from "../core/pick.js";
import { DEFAULT_NAMESPACE, InstanceStatus, type InstanceKey, type InstanceRecord } from "../core/types.js";
import type { CheckTargetPolicy } from "../core/validate-checks.js";
import { validateFilter, validateKey, validateNamespace, validatePreferZone, validateRegistration, validateService, validateStatus } from "../core/validate.js";
import type { Store } from "../store/store.js";
import { connectionKey, endCallKey, type CallContext } from "./call-context.js";
import { instanceToProto, limitsToProto, resolveResponse } from "./convert.js";
import type { HealthCheckerStatus } from "./checks/health-checker.js";
import type { StreamLimiter } from "./stream-limiter.js";
import type { WatchHub } from "./watch-hub.js";

/** What the service implementation needs from the server around it. */
export interface RegistryServiceDeps {
  readonly store: Store;
  readonly hub: WatchHub;
  readonly limits: Limits;
  /** The timing settings clients need to know (history size, progress interval), for GetStatus. */
  readonly timing: Pick<Timing, "historySize" | "watchProgressIntervalMs">;
  readonly streams: StreamLimiter;
  /** Where active checks may probe (check-any-port). */
  readonly checkPolicy: CheckTargetPolicy;
  readonly version: string;
  readonly startedAt: number;
  /** Counts heartbeats for metrics. */
  readonly onBeat?: () => void;
  /** The node's xDS server, for GetStatus; undefined until it is mounted. */
  readonly xdsStatus?: () => XdsStatus | undefined;
  /** The node's health checker, for GetStatus; undefined before it starts. */
  readonly checkerStatus?: () => HealthCheckerStatus | undefined;
}

const strategies: Record<Exclude<Strategy, Strategy.UNSPECIFIED>, PickStrategy> = {
  [Strategy.ROUND_ROBIN]: "round_robin",
  [Strategy.RANDOM]: "random",
  [Strategy.WEIGHTED]: "weighted",
  [Strategy.LEAST_LOADED]: "least_loaded",
};

/** The RegistryService handlers, independent of the RPC framework that calls them. */
export interface RegistryHandlers {
  register(req: RegisterRequest, call: CallContext): Promise<RegisterResponse>;
  deregister(req: DeregisterRequest, call: CallContext): Promise<DeregisterResponse>;
  /** `reqs` must end (or throw the abort reason) when `call.signal` aborts. */
  heartbeat(reqs: AsyncIterable<HeartbeatRequest>, call: CallContext): Promise<HeartbeatResponse>;
  watch(req: WatchRequest, call: CallContext): AsyncIterable<WatchResponse>;
  resolve(req: ResolveRequest, call: CallContext): Promise<ResolveResponse>;
  listServices(req: ListServicesRequest, call: CallContext): Promise<ListServicesResponse>;
  getStatus(req: GetStatusRequest, call: CallContext): Promise<GetStatusResponse>;
}

/**
 * The RegistryService handlers. Each validates its request, calls the store,
 * and throws domain errors that the front ends map to gRPC codes with
 * `toConnectError` (SEMANTICS 1-5).
 */
export function registryHandlers(deps: RegistryServiceDeps): RegistryHandlers {
  const { store, hub, limits, streams } = deps;
  const picker = new Picker();
  const limitsProto = limitsToProto(limits, deps.timing);

  /** The instances a Resolve answers with. */
  async function resolveView(req: ResolveRequest): Promise<{ instances: InstanceRecord[]; revision: bigint; stale: boolean }> {
    const namespace = validateNamespace(req.namespace, limits);
    const service = validateService(req.service, limits);
    const filter = validateFilter(req.filter, limits);
    const preferZone = validatePreferZone(req.preferZone, limits);
    if (!(req.strategy in Strategy)) throw invalidArgument("strategy", `unknown strategy ${req.strategy}`);
    const snap = await store.list(namespace, service);
    const matching = snap.instances.filter((i) => matches(filter, i));
    if (req.strategy === Strategy.UNSPECIFIED) {
      let list = req.allStatuses ? matching : matching.filter((i) => i.status === InstanceStatus.HEALTHY);
      if (preferZone !== "") list = [...list.filter((i) => i.zone === preferZone), ...list.filter((i) => i.zone !== preferZone)];
      return { instances: list, revision: snap.revision, stale: snap.stale };
    }
    if (matching.length === 0) throw new RosterError("not_found", `no instance of service ${namespace}/${service} matches`);
    const picked = picker.pick(matching, strategies[req.strategy], preferZone);
    if (picked === undefined) {
      throw new RosterError("unavailable", `service ${namespace}/${service} has ${matching.length} matching instances, none healthy`);
    }
    return { instances: [picked], revision: snap.revision, stale: snap.stale };
  }

  return {
    async register(req, call) {
      const spec = validateRegistration(req, limits, deps.checkPolicy);
      const result = await store.register(spec, call.caller?.(spec.namespace));
      return create(RegisterResponseSchema, { instance: instanceToProto(result.instance), created: result.created, revision: result.revision });
    },

    async deregister(req, call) {
      const key = validateKey(req, limits);
      const change = await store.deregister(key, call.caller?.(key.namespace));
      return create(DeregisterResponseSchema, { revision: change.revision });
    },

    async heartbeat(reqs, call) {
      const release = streams.acquire(call.connection);
      try {
        let key: InstanceKey | undefined;
        let beats = 0n;
        for await (const req of reqs) {
          key = key === undefined ? validateKey(req, limits) : sameInstance(key, req);
          const status = validateStatus(req.status);
          await store.heartbeat(key, { ...(status !== undefined ? { status } : {}), ...(req.load !== undefined ? { load: req.load } : {}) }, call.caller?.(key.namespace));
          deps.onBeat?.();
          beats++;
        }
        return create(HeartbeatResponseSchema, { beats });
      } finally {
        release();
      }
    },

    async *watch(req, call) {
      const release = streams.acquire(call.connection);
      try {
        const namespace = validateNamespace(req.namespace, limits);
        const service = req.service === "" ? undefined : validateService(req.service, limits);
        const filter = validateFilter(req.filter, limits);
        yield* hub.watch({ namespace, service, filter, startRevision: req.startRevision }, call.signal, { onEnd: (error) => call.end(error), ...(call.offer ? { offer: call.offer } : {}) });
      } finally {
        release();
      }
    },

    async resolve(req) {
      const r = await resolveView(req);
      return resolveResponse(r.instances, r.revision, r.stale);
    },

    async listServices(req) {
      const namespace = validateNamespace(req.namespace, limits);
      const list = await store.listServices(namespace);
      return create(ListServicesResponseSchema, {
        services: list.services.map((s) => create(ServiceSummarySchema, { name: s.name, instances: s.total, ...s.counts })),
        revision: list.revision,
        stale: list.stale,
      });
    },

    async getStatus() {
      const s = store.status();
      return create(GetStatusResponseSchema, {
        version: deps.version,
        store: store.kind,
        revision: s.revision,
        instances: s.instances,
        leases: s.leases,
        watchers: hub.watchers,
        expiryProtection: s.expiryProtection,
        stale: s.stale,
        startedAt: timestampFromMs(deps.startedAt),
        limits: limitsProto,
        xds: deps.xdsStatus?.(),
        checks: checkerStatus(deps.checkerStatus?.()),
      });
    },
  };
}

function checkerStatus(s: HealthCheckerStatus | undefined): CheckerStatus | undefined {
  return s && create(CheckerStatusSchema, { owned: s.owned, members: s.members, protection: s.protection });
}

/** Registers the handlers on a Connect router (gRPC-Web, Connect, and gRPC the fast path left), mapping every thrown error through `toConnectError`. */
export function registerRegistryService(router: ConnectRouter, h: RegistryHandlers): void {
  const call = (ctx: HandlerContext): CallContext => ({ signal: ctx.signal, connection: ctx.values.get(connectionKey), end: ctx.values.get(endCallKey) });
  const impl = {
    register: (req: RegisterRequest, ctx: HandlerContext) => h.register(req, call(ctx)),
    deregister: (req: DeregisterRequest, ctx: HandlerContext) => h.deregister(req, call(ctx)),
    heartbeat: (reqs: AsyncIterable<HeartbeatRequest>, ctx: HandlerContext) => h.heartbeat(abortable(reqs, ctx.signal), call(ctx)),
    watch: (req: WatchRequest, ctx: HandlerContext) => closeOnAbort(h.watch(req, call(ctx)), ctx.signal),
    resolve: (req: ResolveRequest, ctx: HandlerContext) => h.resolve(req, call(ctx)),
    listServices: (req: ListServicesRequest, ctx: HandlerContext) => h.listServices(req, call(ctx)),
    getStatus: (req: GetStatusRequest, ctx: HandlerContext) => h.getStatus(req, call(ctx)),
  };
  router.service(RegistryService, impl, {
    interceptors: [
      (next) => async (req) => {
        try {
          const res = await next(req);
          if (!res.stream) return res;
          return { ...res, message: mapStreamErrors(res.message) };
        } catch (e) {
          throw toConnectError(e);
        }
      },
    ],
  });
}

async function* mapStreamErrors<T>(it: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* it;
  } catch (e) {
    throw toConnectError(e);
  }
}

/**
 * Returns a stream's iterator that is also closed (its `finally` blocks run,
 * freeing its slot) as soon as `signal` aborts. Connect pulls the next
 * message only once the last one is written; when the client stops reading
 * and its stream is reset, that write never completes, so without this the
 * handler would stay suspended, holding its watcher, until the connection
 * closed.
 */
function closeOnAbort<T>(stream: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
  const it = stream[Symbol.asyncIterator]();
  const close = () => void it.return?.().catch(() => {});
  if (signal.aborted) close();
  else signal.addEventListener("abort", close, { once: true });
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => it.next(),
      return: (value?: unknown) => {
        signal.removeEventListener("abort", close);
        return it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined });
      },
    }),
  };
}

function sameInstance(key: InstanceKey, req: HeartbeatRequest): InstanceKey {
  if (req.service === "" && req.id === "" && req.namespace === "") return key;
  const ns = req.namespace === "" ? DEFAULT_NAMESPACE : req.namespace;
  if (ns !== key.namespace || req.service !== key.service || req.id !== key.id) {
    throw invalidArgument("namespace/service/id", "a Heartbeat stream carries one instance; open another stream for another");
  }
  return key;
}

/** Ends an iteration with the signal's abort reason (e.g. UNAVAILABLE on shutdown) instead of waiting for the next message. */
async function* abortable<T>(it: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
  const iterator = it[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      const r = await Promise.race([iterator.next(), aborted]);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
    void iterator.return?.();
  }
}
