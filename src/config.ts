/**
 * The registry's configuration: one typed object, with defaults, read once at
 * start from flags and then environment variables, and validated.
 * Every limit the server enforces is a field here and a row in README.md.
 */
export interface Limits {
  /** Longest service name (SEMANTICS 1.2 fixes 253, a DNS name). */
  readonly maxServiceNameLength: number;
  /** Longest namespace name. */
  readonly maxNamespaceLength: number;
  /** Longest instance id (SEMANTICS 1.2 fixes 128). */
  readonly maxInstanceIdLength: number;
  /** Longest host name or address. */
  readonly maxHostLength: number;
  /** Most tags on one instance. */
  readonly maxTags: number;
  /** Longest tag. */
  readonly maxTagLength: number;
  /** Most metadata entries on one instance. */
  readonly maxMetadataEntries: number;
  /** Most bytes (UTF-8 keys plus values) of metadata on one instance. */
  readonly maxMetadataBytes: number;
  /** Longest zone name. */
  readonly maxZoneLength: number;
  /** Largest weight. */
  readonly maxWeight: number;
  /** Shortest lease, in milliseconds. */
  readonly minTtlMs: number;
  /** Longest lease, in milliseconds. */
  readonly maxTtlMs: number;
  /** Most instances in one service. */
  readonly maxInstancesPerService: number;
  /** Most instances in the whole registry. */
  readonly maxInstances: number;
  /** Most concurrent Heartbeat and Watch streams on one HTTP/2 connection. */
  readonly maxStreamsPerConnection: number;
  /** Most Watch streams open on one node. */
  readonly maxWatchers: number;
  /** Most events queued for one watcher before it is cut off with RESOURCE_EXHAUSTED. */
  readonly maxWatchQueue: number;
  /** Largest request message, in bytes. */
  readonly maxMessageBytes: number;
  /** Most bytes of partly received request messages held for one connection, over all its streams. */
  readonly maxBufferedRequestBytesPerConnection: number;
  /**
   * Most response bytes queued on one stream, not yet taken by the client,
   * before the stream counts as full and its producer waits. Our own bound:
   * Node's stream buffer (16 KiB up to Node 20, 64 KiB from Node 22) is not
   * a policy the registry should inherit.
   */
  readonly maxStreamBufferBytes: number;
  /**
   * Most watchers one change is delivered to before the hub lets the event
   * loop through; the rest follow in later slices, in order, so a Register or
   * Heartbeat arriving during a large fan-out waits one slice, not the burst.
   */
  readonly maxWatchersPerFanoutSlice: number;
  /**
   * Longest a fan-out slice runs before the hub lets the event loop through, in
   * microseconds, whatever max-watchers-per-fanout-slice allows: a slice's cost
   * depends on the machine and its load, and a call arriving during a fan-out
   * waits behind the slice under way.
   */
  readonly maxFanoutSliceMicros: number;
  /** Most active checks one instance may declare (SEMANTICS 6.2). */
  readonly maxChecksPerInstance: number;
  /** Shortest interval a check may ask for, in milliseconds. */
  readonly minCheckIntervalMs: number;
  /**
   * Most active checks in the whole registry. A registry total, not a
   * per-node share: when nodes die, any one node may end up owning them all.
   */
  readonly maxChecks: number;
  /** Most health-check probes one node has in flight at once; due probes beyond it wait their turn. */
  readonly maxConcurrentProbes: number;
  /** Longest output excerpt of a check result kept on the instance, in bytes. */
  readonly checkOutputBytes: number;
}

/** How leases and history behave. */
export interface Timing {
  /** How often expired leases are swept, in milliseconds. */
  readonly sweepIntervalMs: number;
  /** Interval of PROGRESS markers on an idle watch, in milliseconds. */
  readonly watchProgressIntervalMs: number;
  /** Changes kept for watch resumption. */
  readonly historySize: number;
  /** Share of leases (0..1) that may expire within one window before expiry is suspended; 1 disables protection. */
  readonly expiryProtectionThreshold: number;
  /** Expiry protection applies only when at least this many leases exist. */
  readonly expiryProtectionMinLeases: number;
  /** The longest window over which renewals are counted for protection, in milliseconds (the window is two mean beat intervals, at most this). */
  readonly expiryProtectionWindowMs: number;
  /** The longest time expiry protection holds leases before taking them for dead, in milliseconds. */
  readonly expiryProtectionMaxMs: number;
  /** How long shutdown waits for streams to close before destroying connections, in milliseconds. */
  readonly shutdownGraceMs: number;
  /** How often each client connection is pinged, in milliseconds. */
  readonly keepaliveIntervalMs: number;
  /** How long a ping may go unanswered before the connection and its streams are dropped, in milliseconds. */
  readonly keepaliveTimeoutMs: number;
  /** How soon a node notices a stalled or unreachable Redis and refuses writes, in milliseconds; also how long no sweep may run before every lease gets grace. */
  readonly redisHealthTimeoutMs: number;
  /** How often the TLS, token and policy files are checked for changes, in milliseconds. */
  readonly credentialReloadIntervalMs: number;
  /** How long xDS pushes wait to gather a burst of changes into one push per client, in milliseconds. */
  readonly xdsPushDelayMs: number;
  /** How long after a node starts an empty xDS endpoint set is withheld (the fleet is still re-registering), in milliseconds. */
  readonly xdsStartupHoldMs: number;
  /**
   * How long one renewal keeps a node in the Redis check membership, in
   * milliseconds: a node that dies or pauses loses its checks to the others
   * this long (plus one renewal and one check interval) after it last renewed.
   */
  readonly checkMemberLeaseMs: number;
  /** How often a node renews its check membership in Redis, in milliseconds; well under the lease, so a slow renewal does not drop a live node. */
  readonly checkMemberRenewMs: number;
  /** Share (0..1] of a node's checks failing at once above which it stops committing failures (its own network is the likelier cause); 1 disables. */
  readonly checkProtectionThreshold: number;
  /** Check protection applies only when the node runs at least this many checks with a result. */
  readonly checkProtectionMinChecks: number;
  /** Longest time check protection holds failures back, in milliseconds; past it a mass failure is taken as real and committed. */
  readonly checkProtectionMaxMs: number;
}

/** Everything `roster serve` needs. */
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /** Optional second listener on HTTP/1.1 (Connect, gRPC-Web, /metrics, /healthz); 0 disables, -1 picks a free port. */
  readonly http1Port: number;
  /** "memory", or a redis:// / rediss:// / redis+sentinel:// / redis+cluster:// URL. */
  readonly store: string;
  /** Prefix of every Redis key. */
  readonly redisPrefix: string;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** PEM certificate chain file; with `tlsKey`, every listener speaks TLS ("" = cleartext). */
  readonly tlsCert: string;
  /** PEM private key file of `tlsCert`. */
  readonly tlsKey: string;
  /** PEM CA bundle file; when set, clients are asked for a certificate and one that does not chain to it is refused. */
  readonly tlsClientCa: string;
  /** Who may do what: "off", "tokens" (bearer tokens), "mtls" (client certificates) or "both". */
  readonly auth: "off" | "tokens" | "mtls" | "both";
  /** "true" lets auth run without TLS (credentials then cross the network in clear). */
  readonly allowInsecureAuth: "true" | "false";
  /** JSON policy file: each principal's roles, and the certificate subject to principal mapping. */
  readonly policyFile: string;
  /** JSON file of opaque bearer tokens, stored as SHA-256 hashes ("" = none). */
  readonly tokenFile: string;
  /** PEM (SPKI) public key file that signs JWT bearer tokens ("" = JWTs are refused). */
  readonly jwtPublicKey: string;
  /** Where audit lines go: "stderr", "stdout", a file path, or "off". */
  readonly auditLog: string;
  /** "true": a check may probe any port of its instance's host, not only the instance's port. */
  readonly checkAnyPort: "true" | "false";
  readonly limits: Limits;
  readonly timing: Timing;
}

/** The limits a server uses unless told otherwise. */
export const defaultLimits: Limits = {
  maxServiceNameLength: 253,
  maxNamespaceLength: 63,
  maxInstanceIdLength: 128,
  maxHostLength: 253,
  maxTags: 32,
  maxTagLength: 128,
  maxMetadataEntries: 64,
  maxMetadataBytes: 16 * 1024,
  maxZoneLength: 64,
  maxWeight: 10_000,
  minTtlMs: 1_000,
  maxTtlMs: 24 * 3600 * 1000,
  maxInstancesPerService: 10_000,
  maxInstances: 1_000_000,
  maxStreamsPerConnection: 10_000,
  maxWatchers: 100_000,
  maxWatchQueue: 10_000,
  maxMessageBytes: 4 * 1024 * 1024,
  maxBufferedRequestBytesPerConnection: 16 * 1024 * 1024,
  maxStreamBufferBytes: 16 * 1024,
  maxWatchersPerFanoutSlice: 250,
  maxFanoutSliceMicros: 250,
  maxChecksPerInstance: 4,
  minCheckIntervalMs: 1_000,
  maxChecks: 20_000,
  maxConcurrentProbes: 256,
  checkOutputBytes: 256,
};

/** The timing a server uses unless told otherwise. */
export const defaultTiming: Timing = {
  sweepIntervalMs: 100,
  watchProgressIntervalMs: 5_000,
  historySize: 100_000,
  expiryProtectionThreshold: 0.5,
  expiryProtectionMinLeases: 10,
  expiryProtectionWindowMs: 60_000,
  // Covers a partition, a load balancer or network rollout, a VM pause; a fleet that really died leaves resolves within two minutes.
  expiryProtectionMaxMs: 120_000,
  shutdownGraceMs: 5_000,
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  redisHealthTimeoutMs: 1_000,
  credentialReloadIntervalMs: 1_000,
  xdsPushDelayMs: 20,
  // One default heartbeat interval and then some: instances of a restarted memory node re-register within one beat (SEMANTICS 7.1).
  xdsStartupHoldMs: 15_000,
  checkMemberLeaseMs: 3_000,
  checkMemberRenewMs: 1_000,
  checkProtectionThreshold: 0.5,
  checkProtectionMinChecks: 10,
  // As expiry-protection-max-ms: a registry that holds failures back for ever would report dead instances HEALTHY for ever.
  checkProtectionMaxMs: 120_000,
};

/** The whole default configuration. */
export const defaultConfig: ServerConfig = {
  host: "127.0.0.1",
  port: 7420,
  http1Port: 0,
  store: "memory",
  redisPrefix: "roster",
  logLevel: "info",
  tlsCert: "",
  tlsKey: "",
  tlsClientCa: "",
  auth: "off",
  allowInsecureAuth: "false",
  policyFile: "",
  tokenFile: "",
  jwtPublicKey: "",
  auditLog: "stderr",
  checkAnyPort: "false",
  limits: defaultLimits,
  timing: defaultTiming,
};

/** One setting: its place in the config, flag, environment variable and help. */
export interface Setting {
  readonly path: readonly [keyof ServerConfig] | readonly ["limits", keyof Limits] | readonly ["timing", keyof Timing];
  readonly flag: string;
  readonly env: string;
  readonly help: string;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

const topHelp: Record<keyof Omit<ServerConfig, "limits" | "timing">, string> = {
  host: "address to listen on",
  port: "port for gRPC, gRPC-Web and Connect over HTTP/2 (0 picks a free port)",
  http1Port: "extra HTTP/1.1 port for Connect, gRPC-Web, /metrics and /healthz (0 disables)",
  store: 'store: "memory" or a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://; see Running several nodes)',
  redisPrefix: "prefix of every Redis key",
  logLevel: "log level: fatal, error, warn, info, debug, trace or silent",
  tlsCert: "PEM certificate chain file; with --tls-key every listener speaks TLS",
  tlsKey: "PEM private key file for --tls-cert",
  tlsClientCa: "PEM CA bundle: clients are asked for a certificate, untrusted ones are refused",
  auth: "authentication: off, tokens, mtls or both (default deny once on)",
  allowInsecureAuth: 'set to "true" to run auth without TLS',
  policyFile: "JSON policy file: roles per principal, certificate subject mapping",
  tokenFile: "JSON file of opaque bearer tokens (SHA-256 hashes)",
  jwtPublicKey: "PEM public key file that verifies JWT bearer tokens",
  auditLog: 'audit log destination: "stderr", "stdout", a file path, or "off"',
  checkAnyPort: 'set to "true" to let a check probe any port of its instance\'s host (default: only the instance\'s port)',
};

const limitHelp: Record<keyof Limits, string> = {
  maxServiceNameLength: "longest service name",
  maxNamespaceLength: "longest namespace",
  maxInstanceIdLength: "longest instance id",
  maxHostLength: "longest host",
  maxTags: "most tags per instance",
  maxTagLength: "longest tag",
  maxMetadataEntries: "most metadata entries per instance",
  maxMetadataBytes: "most metadata bytes per instance",
  maxZoneLength: "longest zone",
  maxWeight: "largest weight",
  minTtlMs: "shortest lease (ms)",
  maxTtlMs: "longest lease (ms)",
  maxInstancesPerService: "most instances per service",
  maxInstances: "most instances in the registry",
  maxStreamsPerConnection: "most Heartbeat/Watch streams per connection",
  maxWatchers: "most Watch streams per node",
  maxWatchQueue: "events queued per watcher before it is cut off",
  maxMessageBytes: "largest request message (bytes)",
  maxBufferedRequestBytesPerConnection: "most bytes of partly received requests held per connection",
  maxStreamBufferBytes: "most response bytes queued on one stream before it counts as full",
  maxWatchersPerFanoutSlice: "most watchers a change is delivered to before other work gets the event loop",
  maxFanoutSliceMicros: "longest a fan-out slice runs before other work gets the event loop (µs)",
  maxChecksPerInstance: "most active checks one instance may declare",
  minCheckIntervalMs: "shortest interval an active check may ask for (ms)",
  maxChecks: "most active checks in the whole registry",
  maxConcurrentProbes: "most health-check probes in flight on one node",
  checkOutputBytes: "longest check output excerpt kept on an instance (bytes)",
};

const timingHelp: Record<keyof Timing, string> = {
  sweepIntervalMs: "lease sweep interval (ms)",
  watchProgressIntervalMs: "progress marker interval on idle watches (ms)",
  historySize: "changes kept for watch resumption",
  expiryProtectionThreshold: "share of leases without a renewal in their last two beat intervals that suspends expiry (1 disables)",
  expiryProtectionMinLeases: "leases needed before expiry protection applies",
  expiryProtectionWindowMs: "a fault that returns within this long after protection ended continues the same hold (ms)",
  expiryProtectionMaxMs: "longest time expiry protection holds leases before they expire (ms)",
  shutdownGraceMs: "time streams get to close on shutdown (ms)",
  keepaliveIntervalMs: "interval of HTTP/2 pings to each client connection (ms)",
  keepaliveTimeoutMs: "unanswered ping time after which a connection and its streams are dropped (ms)",
  redisHealthTimeoutMs: "time within which a stalled or unreachable Redis is noticed and writes are refused (ms)",
  credentialReloadIntervalMs: "how often TLS, token and policy files are checked for changes (ms)",
  xdsPushDelayMs: "time xDS waits to gather a burst of changes into one push per client (ms)",
  xdsStartupHoldMs: "time after start, or after the store reloaded lost state, during which an empty xDS endpoint set is withheld (ms)",
  checkMemberLeaseMs: "how long one renewal keeps a node in the Redis check membership; its checks move once it lapses (ms)",
  checkMemberRenewMs: "how often a node renews its Redis check membership (ms)",
  checkProtectionThreshold: "share of a node's checks failing at once above which failures are not committed (1 disables)",
  checkProtectionMinChecks: "checks with a result needed before check protection applies",
  checkProtectionMaxMs: "longest time check protection holds failures back before they are committed (ms)",
};

/** Every setting, for the CLI's flags, the environment and the README. */
export const settings: readonly Setting[] = [
  ...Object.entries(topHelp).map(([k, help]) => ({ path: [k as keyof ServerConfig] as const, flag: kebab(k), env: `ROSTER_${snake(k)}`, help })),
  ...Object.entries(limitHelp).map(([k, help]) => ({ path: ["limits", k as keyof Limits] as const, flag: kebab(k), env: `ROSTER_${snake(k)}`, help })),
  ...Object.entries(timingHelp).map(([k, help]) => ({ path: ["timing", k as keyof Timing] as const, flag: kebab(k), env: `ROSTER_${snake(k)}`, help })),
];

/** A deep-partial configuration, as tests and embedders pass it. */
export interface ConfigOverrides extends Partial<Omit<ServerConfig, "limits" | "timing">> {
  readonly limits?: Partial<Limits>;
  readonly timing?: Partial<Timing>;
}

/** Thrown for a configuration value that cannot be used; the message names the setting. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * Builds a validated configuration from defaults, then `env`, then `flags`
 * (flag values win). Values are strings keyed by setting flag name.
 */
export function loadConfig(flags: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv = {}): ServerConfig {
  const top: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  const timing: Record<string, unknown> = {};
  for (const s of settings) {
    const raw = flags[s.flag] ?? env[s.env];
    if (raw === undefined) continue;
    const [group, key] = s.path.length === 2 ? [s.path[0] === "limits" ? limits : timing, s.path[1]] : [top, s.path[0]];
    const fallback = s.path.length === 2 ? (defaultConfig[s.path[0]] as unknown as Record<string, unknown>)[s.path[1]] : defaultConfig[s.path[0]];
    if (typeof fallback === "number") {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw new ConfigError(`--${s.flag} (${s.env}): "${raw}" is not a number`);
      group[key] = n;
    } else {
      group[key] = raw;
    }
  }
  return resolveConfig({ ...top, limits, timing } as ConfigOverrides);
}

/** Fills a partial configuration with defaults and validates it. */
export function resolveConfig(overrides: ConfigOverrides = {}): ServerConfig {
  const config: ServerConfig = {
    ...defaultConfig,
    ...overrides,
    limits: { ...defaultLimits, ...overrides.limits },
    timing: { ...defaultTiming, ...overrides.timing },
  };
  validateConfig(config);
  return config;
}

function check(ok: boolean, setting: string, message: string): void {
  if (!ok) throw new ConfigError(`${setting}: ${message}`);
}

function validateConfig(c: ServerConfig): void {
  check(Number.isInteger(c.port) && c.port >= 0 && c.port <= 65535, "port", "must be 0..65535");
  check(Number.isInteger(c.http1Port) && c.http1Port >= -1 && c.http1Port <= 65535, "http1-port", "must be -1..65535");
  check(c.store === "memory" || /^(redis|rediss)(\+sentinel|\+cluster)?:\/\//.test(c.store), "store", 'must be "memory" or a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://)');
  check(["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(c.logLevel), "log-level", "unknown level");
  check((c.tlsCert === "") === (c.tlsKey === ""), "tls-cert", "--tls-cert and --tls-key go together");
  check(c.tlsClientCa === "" || c.tlsCert !== "", "tls-client-ca", "needs --tls-cert and --tls-key");
  check(["off", "tokens", "mtls", "both"].includes(c.auth), "auth", "must be off, tokens, mtls or both");
  check(["true", "false"].includes(c.allowInsecureAuth), "allow-insecure-auth", 'must be "true" or "false"');
  check(["true", "false"].includes(c.checkAnyPort), "check-any-port", 'must be "true" or "false"');
  check(c.auth === "off" || c.tlsCert !== "" || c.allowInsecureAuth === "true", "auth", "needs TLS (--tls-cert, --tls-key) unless --allow-insecure-auth true");
  check(c.auth === "off" || c.policyFile !== "", "policy-file", "is required when --auth is on");
  check(c.auth !== "mtls" && c.auth !== "both" || c.tlsClientCa !== "", "tls-client-ca", "is required for --auth mtls or both");
  for (const [k, v] of Object.entries(c.limits)) {
    check(Number.isInteger(v) && v >= 1, kebab(k), "must be a whole number of at least 1");
  }
  check(c.limits.maxBufferedRequestBytesPerConnection >= c.limits.maxMessageBytes, "max-buffered-request-bytes-per-connection", "must be at least max-message-bytes");
  check(c.limits.minTtlMs <= c.limits.maxTtlMs, "min-ttl-ms", "must not exceed max-ttl-ms");
  check(c.limits.maxServiceNameLength <= 253, "max-service-name-length", "SEMANTICS 1.2 allows at most 253");
  check(c.limits.maxInstanceIdLength <= 128, "max-instance-id-length", "SEMANTICS 1.2 allows at most 128");
  const t = c.timing;
  for (const k of ["sweepIntervalMs", "watchProgressIntervalMs", "historySize", "expiryProtectionWindowMs", "expiryProtectionMaxMs", "shutdownGraceMs", "keepaliveIntervalMs", "keepaliveTimeoutMs", "redisHealthTimeoutMs", "credentialReloadIntervalMs", "checkProtectionMaxMs"] as const) {
    check(Number.isInteger(t[k]) && t[k] >= 1, kebab(k), "must be a whole number of at least 1");
  }
  check(Number.isInteger(t.xdsPushDelayMs) && t.xdsPushDelayMs >= 0, "xds-push-delay-ms", "must be a whole number");
  check(Number.isInteger(t.xdsStartupHoldMs) && t.xdsStartupHoldMs >= 0, "xds-startup-hold-ms", "must be a whole number");
  check(Number.isInteger(t.checkMemberRenewMs) && t.checkMemberRenewMs >= 1, "check-member-renew-ms", "must be a whole number of at least 1");
  check(Number.isInteger(t.checkMemberLeaseMs) && t.checkMemberLeaseMs >= 2 * t.checkMemberRenewMs, "check-member-lease-ms", "must be a whole number of at least twice check-member-renew-ms");
  check(t.sweepIntervalMs <= 1000, "sweep-interval-ms", "must be at most 1000 so expiry stays within TTL + 1 s");
  check(t.expiryProtectionThreshold > 0 && t.expiryProtectionThreshold <= 1, "expiry-protection-threshold", "must be in (0, 1]");
  check(Number.isInteger(t.expiryProtectionMinLeases) && t.expiryProtectionMinLeases >= 0, "expiry-protection-min-leases", "must be a whole number");
  check(t.checkProtectionThreshold > 0 && t.checkProtectionThreshold <= 1, "check-protection-threshold", "must be in (0, 1]");
  check(Number.isInteger(t.checkProtectionMinChecks) && t.checkProtectionMinChecks >= 0, "check-protection-min-checks", "must be a whole number");
}
