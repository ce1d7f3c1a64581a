import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import type { SystemName } from "./servers.ts";

/** One registered instance, as the generator remembers it. */
export interface Registration {
  readonly service: string;
  readonly id: string;
  /** etcd's lease id; Roster keys the lease by the instance itself. */
  readonly lease?: string;
}

/** One instance's heartbeat stream. */
export interface Beater {
  /** Sends one heartbeat (Roster: a HeartbeatRequest; etcd: a LeaseKeepAliveRequest). */
  beat(): void;
  close(): void;
}

/** What a heartbeat stream reports. */
export interface BeaterEvents {
  onLost(why: string): void;
  onStreamError?(why: string): void;
}

/** What a watcher is told. */
export interface WatchHandlers {
  /** The watch is established (Roster: SNAPSHOT_COMPLETE; etcd: created). */
  onReady?(): void;
  onAdded?(id: string): void;
  onRemoved?(id: string, expired: boolean): void;
  onError?(err: Error): void;
}

/**
 * The generator's view of a registry: the same few operations, mapped onto
 * Roster's RegistryService or etcd's KV/Lease/Watch. Every workload is
 * written once against this.
 */
export interface Target {
  readonly system: SystemName;
  /** Registers an instance holding a lease of `ttlSec` (etcd: LeaseGrant, then Put with the lease). */
  register(service: string, id: string, ttlSec: number): Promise<Registration>;
  /**
   * The instance's heartbeat stream, opened on the first beat. Like a real
   * client it reopens the stream on the next beat when the stream fails
   * (`onStreamError`); `onLost` fires only when the registry says the
   * instance or lease is gone, and then beating stops.
   */
  beater(reg: Registration, events: BeaterEvents): Beater;
  /** Lists a service; returns how many instances came back. */
  resolve(service: string): Promise<number>;
  /** Watches one service (etcd: its key prefix). */
  watch(service: string, handlers: WatchHandlers): { close(): void };
  /** Instances (Roster) or keys (etcd) in the registry. */
  count(): Promise<number>;
  close(): void;
}

const here = fileURLToPath(new URL(".", import.meta.url));
const loaderOptions: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;
type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
type Callback = (err: grpc.ServiceError | null, res: Record<string, unknown>) => void;

function loadRoster(): Ctor {
  const def = protoLoader.loadSync("roster/v1/registry.proto", { ...loaderOptions, includeDirs: [fileURLToPath(new URL("../proto", import.meta.url))] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { roster: { v1: { RegistryService: Ctor } } };
  return pkg.roster.v1.RegistryService;
}

function loadEtcd(): { KV: Ctor; Lease: Ctor; Watch: Ctor } {
  const def = protoLoader.loadSync("etcd.proto", { ...loaderOptions, includeDirs: [here] });
  return (grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: { KV: Ctor; Lease: Ctor; Watch: Ctor } }).etcdserverpb;
}

/**
 * Channel options: each client its own HTTP/2 connection (grpc-js otherwise
 * shares one subchannel between clients of the same target), and room for
 * many streams' buffered data per session.
 */
const channelOptions: grpc.ChannelOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc-node.max_session_memory": 1024,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
};

function channels(ctor: Ctor, address: string, n: number): AnyClient[] {
  return Array.from({ length: n }, () => new ctor(address, grpc.credentials.createInsecure(), channelOptions) as AnyClient);
}

function unary(client: AnyClient, method: string, req: unknown, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const cb: Callback = (err, res) => (err ? reject(err) : resolve(res));
    client[method]!(req, { deadline: Date.now() + timeoutMs }, cb);
  });
}

/** Round-robin over a fixed set of channels. */
function rotor<T>(items: T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length]!;
}

/** Spreads streams over this many connections (Roster allows 10,000 streams per connection by default). */
export interface TargetOptions {
  readonly streamChannels: number;
}

/** A Roster node through its gRPC API. */
export function rosterTarget(system: SystemName, address: string, opts: TargetOptions): Target {
  const ctor = loadRoster();
  const unaryClient = channels(ctor, address, 1)[0]!;
  const streamClients = channels(ctor, address, opts.streamChannels);
  const nextStream = rotor(streamClients);
  return {
    system,
    async register(service, id, ttlSec) {
      await unary(unaryClient, "Register", {
        service,
        id,
        host: "10.0.0.1",
        port: 8080,
        metadata: { version: "1.4.2" },
        ttl: { seconds: String(ttlSec), nanos: 0 },
      });
      return { service, id };
    },
    beater(reg, events) {
      let closed = false;
      let call: grpc.ClientWritableStream<unknown> | undefined;
      let first = true;
      const open = () => {
        const c = nextStream().Heartbeat!({}, (err: grpc.ServiceError | null) => {
          if (closed || c !== call || !err) return;
          const why = `${grpc.status[err.code]}: ${err.details}`;
          if (err.code === grpc.status.NOT_FOUND) {
            closed = true;
            events.onLost(why);
          } else {
            call = undefined;
            events.onStreamError?.(why);
          }
        }) as grpc.ClientWritableStream<unknown>;
        c.on("error", () => {});
        first = true;
        return (call = c);
      };
      return {
        beat() {
          if (closed) return;
          (call ?? open()).write(first ? { service: reg.service, id: reg.id } : {});
          first = false;
        },
        close() {
          closed = true;
          call?.cancel();
        },
      };
    },
    async resolve(service) {
      const res = await unary(unaryClient, "Resolve", { service });
      return (res.instances as unknown[]).length;
    },
    watch(service, h) {
      let closed = false;
      const call = nextStream().Watch!({ service }) as grpc.ClientReadableStream<Record<string, unknown>>;
      call.on("data", (ev) => {
        switch (ev.type) {
          case "WATCH_EVENT_TYPE_SNAPSHOT_COMPLETE":
            h.onReady?.();
            break;
          case "WATCH_EVENT_TYPE_ADDED":
            h.onAdded?.((ev.instance as { id: string }).id);
            break;
          case "WATCH_EVENT_TYPE_REMOVED":
            h.onRemoved?.((ev.instance as { id: string }).id, ev.reason === "REMOVAL_REASON_EXPIRED");
            break;
        }
      });
      call.on("error", (err) => {
        if (!closed) h.onError?.(err);
      });
      return {
        close() {
          closed = true;
          call.cancel();
        },
      };
    },
    async count() {
      const res = await unary(unaryClient, "GetStatus", {});
      return Number(res.instances);
    },
    close() {
      for (const c of [unaryClient, ...streamClients]) c.close();
    },
  };
}

/** Answers true once a Roster node answers GetStatus. */
export async function rosterProbe(address: string): Promise<boolean> {
  const ctor = loadRoster();
  const c = new ctor(address, grpc.credentials.createInsecure(), channelOptions) as AnyClient;
  try {
    await unary(c, "GetStatus", {}, 1000);
    return true;
  } finally {
    c.close();
  }
}

const etcdRoot = "/roster/default/";

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  return end;
}

/** etcd through its own gRPC API: a key per instance under /roster/default/<service>/<id>, held by a lease. */
export function etcdTarget(address: string, opts: TargetOptions): Target {
  const { KV, Lease, Watch } = loadEtcd();
  const kv = channels(KV, address, 1)[0]!;
  const lease = channels(Lease, address, 1)[0]!;
  const leaseChannels = channels(Lease, address, opts.streamChannels);
  const watchChannels = channels(Watch, address, opts.streamChannels);
  const leaseStreams = rotor(leaseChannels);
  const watchStreams = rotor(watchChannels);
  const value = Buffer.from(JSON.stringify({ host: "10.0.0.1", port: 8080, metadata: { version: "1.4.2" } }));
  return {
    system: "etcd",
    async register(service, id, ttlSec) {
      const granted = await unary(lease, "LeaseGrant", { TTL: String(ttlSec) });
      await unary(kv, "Put", { key: Buffer.from(`${etcdRoot}${service}/${id}`), value, lease: granted.ID });
      return { service, id, lease: granted.ID as string };
    },
    beater(reg, events) {
      let closed = false;
      let call: grpc.ClientDuplexStream<unknown, Record<string, unknown>> | undefined;
      const open = () => {
        const c = leaseStreams().LeaseKeepAlive!() as grpc.ClientDuplexStream<unknown, Record<string, unknown>>;
        c.on("data", (res) => {
          if (closed || Number(res.TTL) > 0) return;
          closed = true;
          events.onLost("keepalive answered TTL 0: lease gone");
        });
        c.on("error", (err: grpc.ServiceError) => {
          if (closed || c !== call) return;
          call = undefined;
          events.onStreamError?.(`${grpc.status[err.code]}: ${err.details}`);
        });
        return (call = c);
      };
      return {
        beat() {
          if (!closed) (call ?? open()).write({ ID: reg.lease });
        },
        close() {
          closed = true;
          call?.cancel();
        },
      };
    },
    async resolve(service) {
      const key = Buffer.from(`${etcdRoot}${service}/`);
      const res = await unary(kv, "Range", { key, range_end: prefixEnd(key) });
      return (res.kvs as unknown[]).length;
    },
    watch(service, h) {
      let closed = false;
      const key = Buffer.from(`${etcdRoot}${service}/`);
      const call = watchStreams().Watch!() as grpc.ClientDuplexStream<unknown, Record<string, unknown>>;
      call.on("data", (res) => {
        if (res.created) h.onReady?.();
        for (const ev of res.events as { type: string; kv: { key: Buffer } }[]) {
          const k = ev.kv.key.toString();
          const id = k.slice(k.lastIndexOf("/") + 1);
          if (ev.type === "PUT") h.onAdded?.(id);
          else h.onRemoved?.(id, true);
        }
      });
      call.on("error", (err) => {
        if (!closed) h.onError?.(err);
      });
      call.write({ create_request: { key, range_end: prefixEnd(key) } });
      return {
        close() {
          closed = true;
          call.cancel();
        },
      };
    },
    async count() {
      const key = Buffer.from(etcdRoot);
      const res = await unary(kv, "Range", { key, range_end: prefixEnd(key), count_only: true });
      return Number(res.count);
    },
    close() {
      for (const c of [kv, lease, ...leaseChannels, ...watchChannels]) c.close();
    },
  };
}

/** Answers true once etcd answers a Range. */
export async function etcdProbe(address: string): Promise<boolean> {
  const { KV } = loadEtcd();
  const c = new KV(address, grpc.credentials.createInsecure(), channelOptions) as AnyClient;
  try {
    await unary(c, "Range", { key: Buffer.from("probe") }, 1000);
    return true;
  } finally {
    c.close();
  }
}
