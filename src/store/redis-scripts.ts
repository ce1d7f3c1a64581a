import type { Cluster, Redis } from "ioredis";

/**
 * The keys of one registry in Redis. All share one hash tag (`{prefix}`) so
 * they land in one Cluster slot: every script touches several of them.
 */
export interface RedisKeys {
  /** String: the registry-wide revision counter (SEMANTICS 3.1). */
  readonly revision: string;
  /** Hash: instance key -> packed record (see redis-codec.ts). */
  readonly instances: string;
  /** Sorted set: instance key -> lease deadline, Redis-clock milliseconds. */
  readonly leases: string;
  /** Stream: one entry per change, id `<revision>-0`, trimmed to the history size. */
  readonly changes: string;
  /** Hash: `namespace/service` -> instance count, for the per-service limit. */
  readonly counts: string;
  /** Sorted set: revision of each recent expiry -> its time, the shared memory of expiry protection. */
  readonly expired: string;
  /** String: a random id written when this registry's state was created; a new one means Redis lost it. */
  readonly epoch: string;
}

/** The keys of the registry stored under `prefix`. */
export function redisKeys(prefix: string): RedisKeys {
  const tag = `{${prefix}}`;
  return {
    revision: `${tag}:revision`,
    instances: `${tag}:instances`,
    leases: `${tag}:leases`,
    changes: `${tag}:changes`,
    counts: `${tag}:counts`,
    expired: `${tag}:expired`,
    epoch: `${tag}:epoch`,
  };
}

/** Every script takes the same keys, in this order, so one helper passes them. */
export function keyList(k: RedisKeys): string[] {
  return [k.revision, k.instances, k.leases, k.changes, k.counts, k.expired, k.epoch];
}

// Shared by every script. The clock is Redis's own TIME, so deadlines written
// by different nodes compare correctly whatever their local clocks say.
const prelude = `
local K_REV, K_INST, K_LEASES, K_CHANGES, K_COUNTS, K_EXPIRED, K_EPOCH = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local function fmt(n) return string.format('%.0f', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- createRevision, modRevision, registeredAt, lastHeartbeatAt, load, spec part (status,ttl,json)
local function unpack_record(v)
  return string.match(v, '^([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),(.*)$')
end
local function pack_record(cr, mr, reg, beat, load, spec)
  return cr .. ',' .. mr .. ',' .. reg .. ',' .. beat .. ',' .. load .. ',' .. spec
end
local function spec_ttl(spec) return tonumber(string.match(spec, '^[^,]*,([^,]*),')) end
local function spec_status(spec) return string.match(spec, '^([^,]*),') end
local function service_of(key) return string.match(key, '^([^/]*/[^/]*)/') end
local function set_lease(key, ttl, now)
  if ttl > 0 then redis.call('ZADD', K_LEASES, now + ttl, key) else redis.call('ZREM', K_LEASES, key) end
end
local function drop(key)
  redis.call('HDEL', K_INST, key)
  redis.call('ZREM', K_LEASES, key)
  local svc = service_of(key)
  if redis.call('HINCRBY', K_COUNTS, svc, -1) <= 0 then redis.call('HDEL', K_COUNTS, svc) end
end
-- Exact MAXLEN (not ~): the history size is a promise to watchers, and
-- changesSince answers "compacted" exactly when the stream no longer starts
-- right after the asked revision.
local function append(history, rev, ...)
  redis.call('XADD', K_CHANGES, 'MAXLEN', history, fmt(rev) .. '-0', ...)
end
`;

/**
 * register: ARGV key, spec part, ttl, maxInstancesPerService, maxInstances, historySize.
 * Returns {0, revision, record} when nothing changed (lease and beat time renewed, no revision),
 * {1, revision, record} when created, {2, revision, record, prev} when updated,
 * {-1} at the per-service limit, {-2} at the registry limit.
 */
const register = `
local key, spec, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local old = redis.call('HGET', K_INST, key)
if old then
  local cr, mr, reg, _, load, oldspec = unpack_record(old)
  if oldspec == spec then
    local rec = pack_record(cr, mr, reg, fmt(now), load, spec)
    redis.call('HSET', K_INST, key, rec)
    set_lease(key, ttl, now)
    return {0, redis.call('GET', K_REV) or '0', rec}
  end
  local rev = redis.call('INCR', K_REV)
  local rec = pack_record(cr, fmt(rev), reg, fmt(now), load, spec)
  redis.call('HSET', K_INST, key, rec)
  set_lease(key, ttl, now)
  append(ARGV[6], rev, 'kind', 'put', 'instance', rec, 'prev', old)
  return {2, fmt(rev), rec, old}
end
local svc = service_of(key)
if tonumber(redis.call('HGET', K_COUNTS, svc) or '0') >= tonumber(ARGV[4]) then return {-1} end
if redis.call('HLEN', K_INST) >= tonumber(ARGV[5]) then return {-2} end
local rev = redis.call('INCR', K_REV)
local rec = pack_record(fmt(rev), fmt(rev), fmt(now), fmt(now), '0', spec)
redis.call('HSET', K_INST, key, rec)
redis.call('HINCRBY', K_COUNTS, svc, 1)
set_lease(key, ttl, now)
append(ARGV[6], rev, 'kind', 'put', 'instance', rec)
return {1, fmt(rev), rec}
`;

/** deregister: ARGV key, historySize. Returns {revision, prev} or {-1} when unknown. */
const deregister = `
local key = ARGV[1]
local old = redis.call('HGET', K_INST, key)
if not old then return {-1} end
drop(key)
local rev = redis.call('INCR', K_REV)
append(ARGV[2], rev, 'kind', 'delete', 'prev', old, 'cause', 'deregistered')
return {fmt(rev), old}
`;

/**
 * heartbeat, many beats in one call: ARGV historySize, then (key, status or '', load or '') per beat.
 * Returns {now, r1, r2, ...}: r = '0' renewed, '-1' unknown instance, else the revision of a status change.
 */
const heartbeat = `
local now = now_ms()
local out = {fmt(now)}
for i = 2, #ARGV, 3 do
  local key, st, ld = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = redis.call('HGET', K_INST, key)
  if not old then
    out[#out + 1] = '-1'
  else
    local cr, mr, reg, _, load, spec = unpack_record(old)
    if ld ~= '' then load = ld end
    local ttl = spec_ttl(spec)
    if ttl > 0 then redis.call('ZADD', K_LEASES, now + ttl, key) end
    local oldst = spec_status(spec)
    if st ~= '' and st ~= oldst then
      local rev = redis.call('INCR', K_REV)
      local rec = pack_record(cr, fmt(rev), reg, fmt(now), load, st .. string.sub(spec, #oldst + 1))
      redis.call('HSET', K_INST, key, rec)
      append(ARGV[1], rev, 'kind', 'put', 'instance', rec, 'prev', old)
      out[#out + 1] = fmt(rev)
    else
      redis.call('HSET', K_INST, key, pack_record(cr, mr, reg, fmt(now), load, spec))
      out[#out + 1] = '0'
    end
  end
end
return out
`;

/**
 * sweep: ARGV graceFrom, threshold, minLeases, windowMs, limit, historySize, lookahead.
 * Takes the due leases, applies the expiry-protection formula of ExpiryGuard
 * to the shared state, and removes them, one delete change each. Leases due
 * within `lookahead` ms (one sweep interval) count as due for the decision:
 * leases that lapse together still fall due a few round trips apart, and a
 * sweep landing between them must not see half a mass lapse as normal. Because the
 * script is atomic, a lease is taken by exactly one sweep whichever node runs it.
 * A lease is due for this node only once it is past its deadline and past
 * graceFrom + its TTL: graceFrom is when the node started or last reconnected
 * (SEMANTICS 2.6 start-up grace, 7.2 outage).
 * Returns {protecting 0/1, due, leases, recent, removed}.
 */
const sweep = `
local now = now_ms()
local grace_from, threshold, min_leases, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local lookahead = tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', K_EXPIRED, '-inf', now - window)
local recent = redis.call('ZCARD', K_EXPIRED)
local leases = redis.call('ZCARD', K_LEASES)
local candidates = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, limit)
local due = {}
for _, key in ipairs(candidates) do
  local v = redis.call('HGET', K_INST, key)
  if not v then
    redis.call('ZREM', K_LEASES, key)
  elseif now >= grace_from + spec_ttl(select(6, unpack_record(v))) then
    due[#due + 1] = {key, v}
  end
end
-- Leases beyond the batch limit are counted as due too, so the protection decision sees them all.
local count = #due
if #candidates == limit then count = count + redis.call('ZCOUNT', K_LEASES, '-inf', now) - #candidates end
if count == 0 then return {0, 0, leases, recent, 0} end
count = count + redis.call('ZCOUNT', K_LEASES, '(' .. now, now + lookahead)
local population = leases + recent
if threshold < 1 and population >= min_leases and (count + recent) / population > threshold then
  return {1, count, leases, recent, 0}
end
for _, d in ipairs(due) do
  drop(d[1])
  local rev = redis.call('INCR', K_REV)
  append(ARGV[6], rev, 'kind', 'delete', 'prev', d[2], 'cause', 'expired')
  redis.call('ZADD', K_EXPIRED, now, fmt(rev))
end
return {0, count, leases, recent, #due}
`;

/**
 * hello: ARGV applied revision ('0' for a new node), known epoch ('' for a new node), a fresh epoch.
 * Creates the epoch when missing. Reports lost state (another epoch, or a
 * counter behind what the node applied) and then raises the counter to the
 * node's revision so revisions never go backwards.
 * Returns {epoch, revision, now, lost 0/1}.
 */
const hello = `
local applied, known = tonumber(ARGV[1]), ARGV[2]
local epoch = redis.call('GET', K_EPOCH)
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', K_EPOCH, epoch)
end
local lost = 0
if known ~= '' and known ~= epoch then lost = 1 end
local rev = tonumber(redis.call('GET', K_REV) or '0')
if rev < applied then
  redis.call('SET', K_REV, fmt(applied))
  rev = applied
  lost = 1
end
return {epoch, fmt(rev), fmt(now_ms()), lost}
`;

/**
 * snapshot: the whole state at one revision, atomically: {revision, key1, record1, key2, record2, ...}.
 * O(instances), run once at start and after lost history.
 */
const snapshot = `
local out = {redis.call('GET', K_REV) or '0'}
local all = redis.call('HGETALL', K_INST)
for i = 1, #all do out[i + 1] = all[i] end
return out
`;

const scripts = {
  rosterRegister: register,
  rosterDeregister: deregister,
  rosterHeartbeat: heartbeat,
  rosterSweep: sweep,
  rosterHello: hello,
  rosterSnapshot: snapshot,
} as const;

/** The name of a script, as `defineCommand` registers it. */
export type ScriptName = keyof typeof scripts;

/** Registers every script on a connection (EVALSHA, falling back to EVAL after a Redis restart). */
export function defineScripts(conn: Redis | Cluster): void {
  for (const [name, body] of Object.entries(scripts)) conn.defineCommand(name, { numberOfKeys: 7, lua: prelude + body });
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/** Runs a script defined by `defineScripts` with the registry's keys. */
export function runScript(conn: Redis | Cluster, keys: readonly string[], name: ScriptName, args: readonly (string | number)[]): Promise<unknown> {
  const call = (conn as unknown as Record<ScriptName, ScriptCall>)[name];
  return call.call(conn, ...keys, ...args);
}
