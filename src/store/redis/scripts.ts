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
  /**
   * Sorted set: instance key -> the end of its renewal window (two beat
   * intervals after its last renewal, `renewedUntil` in expiry-guard.ts),
   * Redis-clock ms: the leases renewed within their window, cluster-wide.
   */
  readonly renewed: string;
  /**
   * String: a random id written with the counter when this registry's state is
   * created, and replaced whenever a node finds state lost: a node that knows
   * another epoch knows that what it applied is no longer in Redis.
   */
  readonly epoch: string;
  /**
   * Hash: expiry state every node shares, Redis-clock ms: `swept` (the last
   * sweep), `grace` (leases not renewed since get one TTL), and `hold:<node>`
   * (that node's expiry protection holds every expiry until then).
   */
  readonly expiry: string;
  /**
   * Sorted set: node id -> the end of its membership lease, Redis-clock ms:
   * the nodes that share the active health checks (see `members`).
   */
  readonly members: string;
  /**
   * String: the membership epoch, one more at every change of `members`; a
   * check result is committed only under the epoch its node computed
   * ownership from (see `setCheck`).
   */
  readonly membersEpoch: string;
  /**
   * String: the replication id (`master_replid`) of the primary the history
   * was last written on. A promoted replica, or a restarted server, has
   * another one, and may lack changes some node served: see `rebase`.
   */
  readonly replid: string;
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
    renewed: `${tag}:renewed`,
    epoch: `${tag}:epoch`,
    expiry: `${tag}:expiry`,
    members: `${tag}:members`,
    membersEpoch: `${tag}:members-epoch`,
    replid: `${tag}:replid`,
  };
}

/** Every script takes the same keys, in this order, so one helper passes them. */
export function keyList(k: RedisKeys): string[] {
  return [k.revision, k.instances, k.leases, k.changes, k.counts, k.renewed, k.epoch, k.expiry, k.members, k.membersEpoch, k.replid];
}

// Shared by every script. The clock is Redis's own TIME, so deadlines written
// by different nodes compare correctly whatever their local clocks say.
const prelude = `
local K_REV, K_INST, K_LEASES, K_CHANGES, K_COUNTS, K_RENEWED, K_EPOCH, K_EXPIRY = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_MEMBERS, K_MEMBERS_EPOCH, K_REPLID = KEYS[9], KEYS[10], KEYS[11]
local function fmt(n) return string.format('%.0f', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- createRevision, modRevision, registeredAt, lastHeartbeatAt, load, health token, spec part (status,ttl,json), owner
-- (the owner is written '~<URI-encoded principal>,' in front of the spec part, and only when there is one).
local function unpack_record(v)
  local cr, mr, reg, beat, load, health, spec = string.match(v, '^([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),(.*)$')
  -- A record written before checks existed has its status where the health token is now (a token is '' or has '=').
  if string.find(health, '^%d+$') then return cr, mr, reg, beat, load, '', health .. ',' .. spec, '' end
  local owner, rest = string.match(spec, '^~([^,]*),(.*)$')
  if owner then return cr, mr, reg, beat, load, health, rest, owner end
  return cr, mr, reg, beat, load, health, spec, ''
end
local function pack_record(cr, mr, reg, beat, load, health, spec, owner)
  local o = ''
  if owner ~= '' then o = '~' .. owner .. ',' end
  return cr .. ',' .. mr .. ',' .. reg .. ',' .. beat .. ',' .. load .. ',' .. health .. ',' .. o .. spec
end
-- The owner rule (mayWrite in caller.ts): \`caller\` is '' when no check applies (auth off, or an admin),
-- else the caller's URI-encoded principal.
local function may_write(owner, caller) return caller == '' or owner == '' or owner == caller end
-- A health token is one 'name=state' entry per declared check, joined by '&'
-- (see encodeHealth in codec.ts): the URI-encoded name, then the URI-encoded
-- committed state, or while PENDING the time it became PENDING.
local function health_count(h)
  if h == '' then return 0 end
  local _, n = string.gsub(h, '&', '&')
  return n + 1
end
local function health_state(h, name)
  for e in string.gmatch(h, '[^&]+') do
    local n, st = string.match(e, '^([^=]*)=(.*)$')
    if n == name then return st end
  end
  return nil
end
-- The checks of \`fresh\` (the declared names, 'name=' each), each with the
-- state \`old\` holds for it, or PENDING since now.
local function health_merge(old, fresh, now)
  local out = {}
  for e in string.gmatch(fresh, '[^&]+') do
    local n = string.match(e, '^([^=]*)=')
    out[#out + 1] = n .. '=' .. (health_state(old, n) or fmt(now))
  end
  return table.concat(out, '&')
end
-- The declared checks of the whole registry, for max-checks (a field no 'namespace/service' can be).
local CHECKS_FIELD = '#checks'
local function add_checks(n)
  if n ~= 0 then redis.call('HINCRBY', K_COUNTS, CHECKS_FIELD, n) end
end
local function checks_full(n, max)
  return n > 0 and tonumber(redis.call('HGET', K_COUNTS, CHECKS_FIELD) or '0') + n > max
end
local function spec_ttl(spec) return tonumber(string.match(spec, '^[^,]*,([^,]*),')) end
local function spec_status(spec) return string.match(spec, '^([^,]*),') end
local function service_of(key) return string.match(key, '^([^/]*/[^/]*)/') end
-- A renewal: the deadline, and the end of the renewal window expiry protection counts
-- (deadline - TTL/3, as renewedUntil in expiry-guard.ts).
local function set_lease(key, ttl, now)
  if ttl > 0 then
    redis.call('ZADD', K_LEASES, now + ttl, key)
    redis.call('ZADD', K_RENEWED, now + ttl - ttl / 3, key)
  else
    redis.call('ZREM', K_LEASES, key)
    redis.call('ZREM', K_RENEWED, key)
  end
end
local function drop(key, rec)
  add_checks(-health_count(select(6, unpack_record(rec))))
  redis.call('HDEL', K_INST, key)
  redis.call('ZREM', K_LEASES, key)
  redis.call('ZREM', K_RENEWED, key)
  local svc = service_of(key)
  if redis.call('HINCRBY', K_COUNTS, svc, -1) <= 0 then redis.call('HDEL', K_COUNTS, svc) end
end
-- Exact MAXLEN (not ~): the history size is a promise to watchers, and
-- changesSince answers "compacted" exactly when the stream no longer starts
-- right after the asked revision.
local function append(history, rev, ...)
  redis.call('XADD', K_CHANGES, 'MAXLEN', history, fmt(rev) .. '-0', ...)
end
-- The identity of the primary this script runs on: a promoted replica gets a new one, and so may a restarted server.
local function primary_id()
  return string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or ''
end
-- When the history was last written on another primary, that primary may have
-- served changes this one never received (a failover to a replica that lagged),
-- and a node that applied less than this primary holds would see nothing wrong
-- and hand their revisions out again. So the counter jumps from its revision M
-- to N = max(M + 1, Redis ms x 1000), above every revision any node served (as
-- long as the registry averaged under a million changes a second), and a jump
-- entry at N says so: a node at exactly M goes on at N, losing nothing; a node
-- above M applied changes that are gone and reloads (ChangeFeed). An absent key
-- is data written before this key existed: adopted, not a jump, which nodes of
-- that version could not read. The jump is not trimmed: the next append trims
-- with it. Returns M and N, or nothing when the primary is the same.
local function rebase()
  local id = primary_id()
  local known = redis.call('GET', K_REPLID)
  if known == id then return nil end
  redis.call('SET', K_REPLID, id)
  if not known then return nil end
  local from = tonumber(redis.call('GET', K_REV) or '0')
  local now = now_ms()
  local to = math.max(from + 1, now * 1000)
  redis.call('SET', K_REV, fmt(to))
  redis.call('XADD', K_CHANGES, fmt(to) .. '-0', 'kind', 'jump', 'from', fmt(from), 'at', fmt(now))
  return from, to
end
`;

/** What a guarded script answers when the node's view is not of this Redis state: the node must reload. */
export const LOST_STATE = "ROSTERLOST";
/** What a guarded script answers when it re-based the history (see `rebase`) instead of doing its own write: the node reads the jump first. */
export const REBASED = "ROSTERREBASED";

/*
 * Every script but hello and snapshot starts with this guard. ARGV[1] is the
 * epoch the node applied its view on, ARGV[2] the last revision it applied;
 * the script's own arguments follow (A[1], A[2], ...). A node whose epoch is
 * not Redis's, or that applied revisions beyond Redis's counter (Redis lost
 * its latest writes: a restart from an older snapshot, a lagging replica
 * promoted), must not write on top: revisions would repeat with other content.
 * First of all, a script that finds the history on another primary re-bases
 * it and refuses (REBASED): the node must read the jump before it writes.
 */
const guard = `
local jumped_from, jumped_to = rebase()
if jumped_from then
  return redis.error_reply('${REBASED} the registry moved to another Redis primary: revisions jump from ' .. fmt(jumped_from) .. ' to ' .. fmt(jumped_to))
end
if redis.call('GET', K_EPOCH) ~= ARGV[1] or tonumber(redis.call('GET', K_REV) or '0') < tonumber(ARGV[2]) then
  return redis.error_reply('${LOST_STATE} the registry state in Redis is not the one this node applied')
end
local A = {}
for i = 3, #ARGV do A[i - 2] = ARGV[i] end
`;

/**
 * register: A key, spec part, ttl, maxInstancesPerService, maxInstances, historySize,
 * the declared check names as a health token without states ('a=&b='), maxChecks,
 * the caller to check (see may_write), the owner of a new record (URI-encoded, '' for none).
 * Returns {0, revision, record} when nothing changed (lease and beat time renewed, no revision),
 * {1, revision, record} when created, {2, revision, record, prev} when updated,
 * {-1} at the per-service limit, {-2} at the registry limit, {-3} at max-checks,
 * {-4} when the instance belongs to another principal. An update keeps the owner.
 * A changing re-register keeps the state of every check it still declares.
 */
const register = `
local key, spec, ttl, fresh, max_checks = A[1], A[2], tonumber(A[3]), A[7], tonumber(A[8])
local now = now_ms()
local old = redis.call('HGET', K_INST, key)
if old then
  local cr, mr, reg, _, load, health, oldspec, owner = unpack_record(old)
  if not may_write(owner, A[9]) then return {-4} end
  if oldspec == spec then
    local rec = pack_record(cr, mr, reg, fmt(now), load, health, spec, owner)
    redis.call('HSET', K_INST, key, rec)
    set_lease(key, ttl, now)
    return {0, redis.call('GET', K_REV) or '0', rec}
  end
  local more = health_count(fresh) - health_count(health)
  if checks_full(more, max_checks) then return {-3} end
  add_checks(more)
  local rev = redis.call('INCR', K_REV)
  local rec = pack_record(cr, fmt(rev), reg, fmt(now), load, health_merge(health, fresh, now), spec, owner)
  redis.call('HSET', K_INST, key, rec)
  set_lease(key, ttl, now)
  append(A[6], rev, 'kind', 'put', 'instance', rec, 'prev', old)
  return {2, fmt(rev), rec, old}
end
local svc = service_of(key)
if tonumber(redis.call('HGET', K_COUNTS, svc) or '0') >= tonumber(A[4]) then return {-1} end
if redis.call('HLEN', K_INST) >= tonumber(A[5]) then return {-2} end
if checks_full(health_count(fresh), max_checks) then return {-3} end
add_checks(health_count(fresh))
local rev = redis.call('INCR', K_REV)
local rec = pack_record(fmt(rev), fmt(rev), fmt(now), fmt(now), '0', health_merge('', fresh, now), spec, A[10])
redis.call('HSET', K_INST, key, rec)
redis.call('HINCRBY', K_COUNTS, svc, 1)
set_lease(key, ttl, now)
append(A[6], rev, 'kind', 'put', 'instance', rec)
return {1, fmt(rev), rec}
`;

/** deregister: A key, historySize, the caller to check (see may_write). Returns {revision, prev}, {-1} when unknown, {-2} when another principal owns it. */
const deregister = `
local key = A[1]
local old = redis.call('HGET', K_INST, key)
if not old then return {-1} end
if not may_write(select(8, unpack_record(old)), A[3]) then return {-2} end
drop(key, old)
local rev = redis.call('INCR', K_REV)
append(A[2], rev, 'kind', 'delete', 'prev', old, 'cause', 'deregistered')
return {fmt(rev), old}
`;

/**
 * heartbeat, many beats in one call: A historySize, then (key, status or '', load or '', caller to check) per beat.
 * Returns {now, r1, r2, ...}: r = '0' renewed, '-1' unknown instance, '-2' another principal's instance
 * (nothing written), else the revision of a status change.
 */
const heartbeat = `
local now = now_ms()
local out = {fmt(now)}
for i = 2, #A, 4 do
  local key, st, ld, who = A[i], A[i + 1], A[i + 2], A[i + 3]
  local old = redis.call('HGET', K_INST, key)
  local cr, mr, reg, _, load, health, spec, owner
  if old then cr, mr, reg, _, load, health, spec, owner = unpack_record(old) end
  if not old then
    out[#out + 1] = '-1'
  elseif not may_write(owner, who) then
    out[#out + 1] = '-2'
  else
    if ld ~= '' then load = ld end
    local ttl = spec_ttl(spec)
    if ttl > 0 then set_lease(key, ttl, now) end
    local oldst = spec_status(spec)
    if st ~= '' and st ~= oldst then
      local rev = redis.call('INCR', K_REV)
      local rec = pack_record(cr, fmt(rev), reg, fmt(now), load, health, st .. string.sub(spec, #oldst + 1), owner)
      redis.call('HSET', K_INST, key, rec)
      append(A[1], rev, 'kind', 'put', 'instance', rec, 'prev', old)
      out[#out + 1] = fmt(rev)
    else
      redis.call('HSET', K_INST, key, pack_record(cr, mr, reg, fmt(now), load, health, spec, owner))
      out[#out + 1] = '0'
    end
  end
end
return out
`;

/**
 * sample: {now, renewed, leases}: Redis's clock, the leases renewed within
 * their window and all leases, cluster-wide: what every node feeds its
 * ExpiryGuard with, so all judge the same counts on the same clock.
 */
const sample = `
local now = now_ms()
return {fmt(now), redis.call('ZCOUNT', K_RENEWED, '(' .. fmt(now), '+inf'), redis.call('ZCARD', K_LEASES)}
`;

/**
 * sweep: A limit, historySize, stallMs, node id, protecting 0/1, holdMs, graceFrom.
 * Removes the due leases, one delete change each, unless any node's expiry
 * protection holds them. Because the script is atomic, a lease is taken by
 * exactly one sweep whichever node runs it.
 *
 * A node whose guard protects writes `hold:<node>` = now + holdMs; while any
 * node's hold is in force no lease expires on any node. Grace is shared too:
 * a lease is due only once past its deadline and past `grace + its TTL`,
 * where `grace` becomes
 * - now, when no sweep ran for more than stallMs (Redis stalled, or no node
 *   could reach it: nobody could renew, whatever each node saw),
 * - now, when a node starts or comes back (hello), SEMANTICS 2.6 and 7.2,
 * - graceFrom, the end of a node's last protection (every lease that fell due
 *   during it gets one TTL from then, on every node).
 * Returns {held 0/1, removed}.
 */
const sweep = `
local now = now_ms()
local limit, stall, hold_field, protecting, hold_ms, grace_from = tonumber(A[1]), tonumber(A[3]), 'hold:' .. A[4], A[5] == '1', tonumber(A[6]), tonumber(A[7])
local swept = tonumber(redis.call('HGET', K_EXPIRY, 'swept') or '0')
local grace = math.max(tonumber(redis.call('HGET', K_EXPIRY, 'grace') or '0'), grace_from)
if now - swept > stall then grace = now end
redis.call('HSET', K_EXPIRY, 'swept', fmt(now), 'grace', fmt(grace))
if protecting then redis.call('HSET', K_EXPIRY, hold_field, fmt(now + hold_ms)) else redis.call('HDEL', K_EXPIRY, hold_field) end
local held = protecting
local fields = redis.call('HGETALL', K_EXPIRY)
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 5) == 'hold:' then
    if tonumber(fields[i + 1]) > now then held = true else redis.call('HDEL', K_EXPIRY, fields[i]) end
  end
end
if held then return {1, 0} end
local removed = 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, limit)) do
  local v = redis.call('HGET', K_INST, key)
  if not v then
    redis.call('ZREM', K_LEASES, key)
    redis.call('ZREM', K_RENEWED, key)
  elseif now >= grace + spec_ttl(select(7, unpack_record(v))) then
    drop(key, v)
    local rev = redis.call('INCR', K_REV)
    append(A[2], rev, 'kind', 'delete', 'prev', v, 'cause', 'expired')
    removed = removed + 1
  end
end
return {0, removed}
`;

/**
 * members: A node id, leaseMs. The membership of the nodes that share the
 * active health checks (issue 14): drops every member whose lease ended,
 * adds this node when absent (its first join, or a rejoin after its lease
 * lapsed), renews its lease to now + leaseMs; the epoch goes up by one when
 * the set changed. The epoch starts from Redis's clock, so it never repeats
 * after Redis lost its state. Returns {epoch, joined 0/1, node...}.
 */
const members = `
local node, lease = A[1], tonumber(A[2])
local now = now_ms()
if not redis.call('GET', K_MEMBERS_EPOCH) then redis.call('SET', K_MEMBERS_EPOCH, fmt(now)) end
local changed = redis.call('ZREMRANGEBYSCORE', K_MEMBERS, '-inf', now) > 0
local joined = 0
if not redis.call('ZSCORE', K_MEMBERS, node) then joined = 1 end
redis.call('ZADD', K_MEMBERS, now + lease, node)
local epoch
if changed or joined == 1 then epoch = redis.call('INCR', K_MEMBERS_EPOCH) else epoch = redis.call('GET', K_MEMBERS_EPOCH) end
local out = {tostring(epoch), joined}
for _, n in ipairs(redis.call('ZRANGE', K_MEMBERS, 0, -1)) do out[#out + 1] = n end
return out
`;

/** leave: A node id. A graceful close: the node leaves the membership (epoch + 1). Returns {left 0/1}. */
const leave = `
if redis.call('ZREM', K_MEMBERS, A[1]) == 0 then return {0} end
redis.call('INCR', K_MEMBERS_EPOCH)
return {1}
`;

/*
 * The fence and the compare-and-set of every check commit: A key, expected
 * health token, node id, membership epoch, then the script's own arguments
 * from A[5]. A node commits only while it is a live member (its lease ends
 * after now, on Redis's clock) under the epoch it computed ownership from, so
 * a paused or partitioned old owner is refused even when its own view says it
 * still owns the check.
 */
const checkFence = `
local key, expected = A[1], A[2]
local now = now_ms()
local lease = redis.call('ZSCORE', K_MEMBERS, A[3])
if redis.call('GET', K_MEMBERS_EPOCH) ~= A[4] or not lease or tonumber(lease) <= now then return {'fenced'} end
local old = redis.call('HGET', K_INST, key)
if not old then return {'gone'} end
local cr, mr, reg, beat, load, health, spec, owner = unpack_record(old)
if health ~= expected then return {'conflict'} end
`;

/**
 * setCheck: the fence (above), then A[5] the check name (URI-encoded), A[6]
 * the next health token, A[7] '1' when that is the health already held, A[8] historySize.
 * Returns {'committed', revision, record, prev}, or {'unchanged'|'fenced'|'conflict'|'gone'}.
 */
const setCheck = `${checkFence}
if not health_state(health, A[5]) then return {'gone'} end
if A[7] == '1' then return {'unchanged'} end
local rev = redis.call('INCR', K_REV)
local rec = pack_record(cr, fmt(rev), reg, beat, load, A[6], spec, owner)
redis.call('HSET', K_INST, key, rec)
append(A[8], rev, 'kind', 'put', 'instance', rec, 'prev', old)
return {'committed', fmt(rev), rec, old}
`;

/**
 * removeCheck, deregister-after: the fence (above), then A[5] historySize.
 * Returns {'committed', revision, prev}, or {'fenced'|'conflict'|'gone'}.
 */
const removeCheck = `${checkFence}
drop(key, old)
local rev = redis.call('INCR', K_REV)
append(A[5], rev, 'kind', 'delete', 'prev', old, 'cause', 'check_failed')
return {'committed', fmt(rev), old}
`;

/**
 * hello, when a node starts or comes back: ARGV the epoch it knows ('' for a
 * new node), the highest revision it has seen, a fresh epoch id.
 *
 * Finds lost state and re-bases the registry so revisions never repeat and
 * never go backwards:
 * - no epoch: Redis holds no registry (new, or restarted empty);
 * - another epoch than the node's: some node re-based since it last looked;
 * - another primary than the history was written on (see `rebase`): the
 *   counter jumps, and the node lost state if it saw a revision above the one
 *   jumped from; other nodes learn it from the jump entry in the stream;
 * - a counter below what the node has seen on the same primary: Redis lost
 *   its latest writes (a rollback).
 * With no epoch, or after a rollback, the counter is set to max(counter,
 * seen + 1, Redis ms x 1000), the stream is dropped and a fresh epoch
 * written, all at once, so every other node sees the new epoch (SEMANTICS 4.2
 * and 7.2). The clock floor puts the counter above any revision served before
 * by any node (as long as the registry averaged under a million changes a
 * second), not only above what this node saw.
 * Sets the shared grace start to now (no client could renew through a node
 * that was away). Returns {epoch, revision, now, lost 0/1}.
 */
const hello = `
local known, seen, fresh = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
local epoch = redis.call('GET', K_EPOCH)
local lost = 0
if known ~= '' and known ~= epoch then lost = 1 end
if epoch then
  local jumped_from = rebase()
  if jumped_from and jumped_from < seen then lost = 1 end
end
local rev = tonumber(redis.call('GET', K_REV) or '0')
if not epoch or rev < seen then
  if rev < seen then lost = 1 end
  rev = math.max(rev, seen + 1, now * 1000)
  epoch = fresh
  redis.call('SET', K_REV, fmt(rev))
  redis.call('SET', K_EPOCH, epoch)
  redis.call('SET', K_REPLID, primary_id())
  redis.call('DEL', K_CHANGES)
end
redis.call('HSET', K_EXPIRY, 'grace', fmt(now))
return {epoch, fmt(rev), fmt(now), lost}
`;

/**
 * snapshot: the whole state at one revision, atomically:
 * {epoch, revision, key1, record1, key2, record2, ...}. O(instances), run at
 * start and whenever the node's view must be rebuilt.
 */
const snapshot = `
local out = {redis.call('GET', K_EPOCH) or '', redis.call('GET', K_REV) or '0'}
local all = redis.call('HGETALL', K_INST)
for i = 1, #all do out[i + 2] = all[i] end
return out
`;

const guarded = {
  rosterRegister: register,
  rosterDeregister: deregister,
  rosterHeartbeat: heartbeat,
  rosterSample: sample,
  rosterSweep: sweep,
  rosterMembers: members,
  rosterLeave: leave,
  rosterSetCheck: setCheck,
  rosterRemoveCheck: removeCheck,
} as const;

const unguarded = {
  rosterHello: hello,
  rosterSnapshot: snapshot,
} as const;

/** A script that writes: it runs only on the state the node applied (see `guard`), with the node's epoch and revision first. */
export type WriteScript = keyof typeof guarded;
/** A script that reads or re-bases the state: it takes its arguments as they are. */
export type SetupScript = keyof typeof unguarded;
/** The name of a script, as `defineCommand` registers it. */
export type ScriptName = WriteScript | SetupScript;

/** Registers every script on a connection (EVALSHA, falling back to EVAL after a Redis restart). */
export function defineScripts(conn: Redis | Cluster): void {
  const numberOfKeys = keyList(redisKeys("x")).length;
  for (const [name, body] of Object.entries(guarded)) conn.defineCommand(name, { numberOfKeys, lua: prelude + guard + body });
  for (const [name, body] of Object.entries(unguarded)) conn.defineCommand(name, { numberOfKeys, lua: prelude + body });
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/** Runs a script defined by `defineScripts` with the registry's keys. */
export function runScript(conn: Redis | Cluster, keys: readonly string[], name: ScriptName, args: readonly (string | number)[]): Promise<unknown> {
  const call = (conn as unknown as Record<ScriptName, ScriptCall>)[name];
  return call.call(conn, ...keys, ...args);
}

/** True for the reply of a guarded script that refused because the node's view is not of this Redis state. */
export function isLostState(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith(LOST_STATE);
}

/** True for the reply of a guarded script that re-based the history and refused (see `rebase`). */
export function isRebased(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith(REBASED);
}
