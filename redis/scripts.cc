#include "redis/scripts.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace pushrelay::redis {

namespace {

// ---- the Lua ----
// The helper sections scripts start with (doc/redis-format.md §4 names the `c` fields they keep).
// Redis runs Lua 5.1: numbers are doubles, exact up to 2^53, so gens (µs) and ids fit; integers
// are formatted with %d, since tostring() would print 1.7e+15.
//
// Redis's CPU bounds publish throughput, and a script's cost is mostly per redis.call and per
// Lua allocation, so the scripts read each key once and write it once: `c` with one HGETALL into
// a table and one HSET (and HDEL) at the end; `m` with one XLEN and the oldest entries read in
// batches, its removals sent as one XDEL (doc/decisions.md "Script cost"). Numbers go to
// redis.call as strings: Redis 7.0 formats a Lua number with %.17g.

// In every script: time, numbers, ids, entries, limits.
constexpr std::string_view kLuaBase = R"lua(
local LIMITS = '<I4 I4 i8 I4 B i8 B'

local function clock()
  local t = redis.call('TIME')
  local sec, usec = tonumber(t[1]), tonumber(t[2])
  return sec, sec * 1000 + math.floor(usec / 1000), sec * 1000000 + usec
end

local function int(n) return string.format('%d', n) end

local function split_id(id)
  local t, g = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(t), tonumber(g)
end

local function fields(entry)
  local f, kv = {}, entry[2]
  for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
  return f
end

-- An entry's `x`, parsed once.
local function expiry_of(entry)
  if not entry.x then
    local kv = entry[2]
    for i = 1, #kv, 2 do
      if kv[i] == 'x' then
        entry.x = tonumber(kv[i + 1])
        break
      end
    end
  end
  return entry.x
end

local function expired(x, now) return x ~= 0 and x <= now end
-- Expiries in order, "never" (0) after every time.
local function expiry_rank(x) if x == 0 then return math.huge end return x end

local function limits_from_args(args, i)
  return struct.pack(LIMITS, tonumber(args[i]), tonumber(args[i + 1]), tonumber(args[i + 2]),
    tonumber(args[i + 3]), tonumber(args[i + 4]), tonumber(args[i + 5]), tonumber(args[i + 6]))
end

local function limits_of(packed)
  local l = {}
  l.min_buffer, l.max_buffer, l.message_timeout, l.min_recipients, l.delete_oldest_received,
    l.channel_timeout, l.store = struct.unpack(LIMITS, packed)
  return l
end

local function gen_number(gen) return tonumber(gen, 16) end
-- A new generation: the creation time in µs, hex.
local function new_gen(us) return string.format('%x', us) end

-- Calls visit(entry) on the entries after `from` ('-': all; '(<id>': after that id), oldest
-- first, `batch` at a time, until visit returns false or the stream ends.
local function each_entry(m, from, batch, visit)
  while true do
    local entries = redis.call('XRANGE', m, from, '+', 'COUNT', int(batch))
    for _, e in ipairs(entries) do
      if not visit(e) then return end
    end
    if #entries < batch then return end
    from = '(' .. entries[#entries][1]
  end
end
)lua";

// c, read once (HGETALL) and written once (write_channel); its leases; the keys' expiry.
constexpr std::string_view kLuaChannel = R"lua(
local LEASE_MS = 30000

local function absent_or_gone(x)
  if redis.call('EXISTS', x) == 1 then return 'gone' end
  return 'absent'
end

-- C.f holds c's fields as this call leaves them; put() records a change (nil: delete) for
-- write_channel(), which sends them all.
local function read_channel(c)
  local all, f = redis.call('HGETALL', c), {}
  for i = 1, #all, 2 do f[all[i]] = all[i + 1] end
  return {key = c, f = f, numbers = {}, changed = {}, order = {}}
end

local function put(C, name, value)
  if C.f[name] == value then return end
  if C.changed[name] == nil then C.order[#C.order + 1] = name end
  C.f[name], C.changed[name], C.numbers[name] = value, value or false, nil
end

-- A numeric field (absent: 0), parsed once.
local function cnum(C, name)
  local n = C.numbers[name]
  if n == nil then
    n = tonumber(C.f[name] or '0')
    C.numbers[name] = n
  end
  return n
end

local function write_channel(C)
  local set, del = {}, {}
  for _, name in ipairs(C.order) do
    local value = C.changed[name]
    if value then
      set[#set + 1] = name
      set[#set + 1] = value
    else
      del[#del + 1] = name
    end
  end
  if #set > 0 then redis.call('HSET', C.key, unpack(set)) end
  if #del > 0 then redis.call('HDEL', C.key, unpack(del)) end
  C.changed, C.order = {}, {}
end

local function create_channel(C, us, packed_limits)
  local gen = new_gen(us)
  put(C, 'gen', gen)
  put(C, 'lim', packed_limits)
  return gen
end

-- The waiters of the live leases (n:<node> = '<waiters> <until ms>') other than `skip`, and the
-- latest lease end; with `drop_dead`, lapsed leases are deleted.
local function leases(C, now, skip, drop_dead)
  local waiters, latest = 0, 0
  for name, value in pairs(C.f) do
    if string.find(name, 'n:', 1, true) == 1 and name ~= skip then
      local w, u = string.match(value, '^(%d+) (%d+)$')
      if u and tonumber(u) > now then
        waiters = waiters + tonumber(w)
        latest = math.max(latest, tonumber(u))
      elseif drop_dead then
        put(C, name, nil)
      end
    end
  end
  return waiters, latest
end

-- Keys expire on their own: channel_timeout after the later of the last stored message's
-- expiry and the last lease; never while a stored message never expires.
local function refresh_expiry(C, keys, now, lim, lease_end)
  if cnum(C, 'nx') > 0 then
    for _, k in ipairs(keys) do redis.call('PERSIST', k) end
    return
  end
  local ttl = int(math.max(math.max(now, cnum(C, 'xm'), lease_end) - now + lim.channel_timeout, 1))
  for _, k in ipairs(keys) do redis.call('PEXPIRE', k, ttl) end
end
)lua";

// m, counted once (XLEN), read from the oldest in batches, its removals sent at once.
constexpr std::string_view kLuaStream = R"lua(
-- Ids per XDEL/HDEL: unpack() is bounded by Lua's C stack.
local CHUNK = 1000

-- r exists only once a receipt rule counted something: asked once, then both the HDEL of
-- removed entries and r's PEXPIRE are skipped while it is absent.
local function has_receipts(K)
  if K.has_r == nil then K.has_r = redis.call('EXISTS', K.r) == 1 end
  return K.has_r
end

local function open_stream(K, count)
  return {key = K.m, count = count or redis.call('XLEN', K.m), read = {}, at = 1, after = '-',
    gone = {}, is_gone = {}}
end

-- The oldest entry still there (nil: none); a read takes at least `want` entries.
local function head(S, want)
  while S.count > 0 do
    local e = S.read[S.at]
    if not e then
      S.read, S.at = redis.call('XRANGE', S.key, S.after, '+', 'COUNT', int(math.max(want or 1, 1))), 1
      e = S.read[1]
      if not e then return nil end
      S.after = '(' .. S.read[#S.read][1]
    end
    if not S.is_gone[e[1]] then return e end
    S.at = S.at + 1
  end
  return nil
end

-- Forgets what was read, so that the next head() starts from the oldest again.
local function reread(S) S.read, S.at, S.after = {}, 1, '-' end

-- c's nx: stored messages that never expire; xm: at least the latest expiry of the others;
-- xs: at most the earliest expiry of a straggler (one expiring before an older one), absent if
-- none. Every removal goes through remove() so that nx stays exact.
local function remove(C, S, e)
  S.gone[#S.gone + 1], S.is_gone[e[1]] = e[1], true
  S.count = S.count - 1
  if expiry_of(e) == 0 then put(C, 'nx', int(cnum(C, 'nx') - 1)) end
end

local function write_stream(K, S)
  for first = 1, #S.gone, CHUNK do
    local last = math.min(first + CHUNK - 1, #S.gone)
    redis.call('XDEL', K.m, unpack(S.gone, first, last))
    if has_receipts(K) then redis.call('HDEL', K.r, unpack(S.gone, first, last)) end
  end
  S.gone = {}
end

local function oldest_id(S)
  local e = head(S)
  if not e then return -1, 0 end
  return split_id(e[1])
end

-- The newest entry still there. Read only when its expiry matters: a message that never
-- expires, or one expiring no later than every stored one (xm bounds them), is no straggler.
local function newest(S)
  for _, e in ipairs(redis.call('XREVRANGE', S.key, '+', '-', 'COUNT', int(#S.gone + 1))) do
    if not S.is_gone[e[1]] then return e end
  end
  return nil
end

local function add_entry(K, C, S, id, ctype, body, x, event)
  if x ~= 0 and S.count > 0 and (cnum(C, 'nx') > 0 or x < cnum(C, 'xm')) then
    local last = newest(S)
    if last and x < expiry_rank(expiry_of(last)) then
      local xs = cnum(C, 'xs')
      if xs == 0 or x < xs then put(C, 'xs', int(x)) end
    end
  end
  local xs = int(x)
  if event ~= '' then
    redis.call('XADD', K.m, id, 't', ctype, 'b', body, 'x', xs, 'e', event)
  else
    redis.call('XADD', K.m, id, 't', ctype, 'b', body, 'x', xs)
  end
  S.count = S.count + 1
  if x == 0 then
    put(C, 'nx', int(cnum(C, 'nx') + 1))
  elseif x > cnum(C, 'xm') then
    put(C, 'xm', xs)
  end
end

local function forget_bounds_if_empty(C, S)
  if S.count == 0 then
    put(C, 'nx', nil)
    put(C, 'xm', nil)
    put(C, 'xs', nil)
  end
end

-- Expiry beats min_buffer (protocol.md): every expired entry goes. O(dropped) while the
-- stream expires in order; one walk of it once a straggler may have expired. No entry can
-- have expired while xm is absent (every stored message never expires). `want`: how many of
-- the oldest the caller will read after this.
local function drop_expired(K, C, S, now, want)
  if cnum(C, 'xm') > 0 then
    while true do
      local e = head(S, want)
      if not e or not expired(expiry_of(e), now) then break end
      remove(C, S, e)
    end
  end
  local xs = cnum(C, 'xs')
  if xs == 0 or xs > now then return end
  local latest, straggler = 0, math.huge
  each_entry(K.m, '-', 64, function(e)
    if S.is_gone[e[1]] then return true end
    local x = expiry_of(e)
    if expired(x, now) then
      remove(C, S, e)
    else
      if expiry_rank(x) < latest then straggler = math.min(straggler, x) end
      latest = math.max(latest, expiry_rank(x))
    end
    return true
  end)
  reread(S)
  if straggler == math.huge then
    put(C, 'xs', nil)
  else
    put(C, 'xs', int(straggler))
  end
end

local function trim_to_max(C, S, lim)
  while S.count > lim.max_buffer do remove(C, S, head(S, S.count - lim.max_buffer + 1)) end
end

-- min_recipients, and with `delete_oldest` delete_oldest_received: the oldest goes once
-- received enough, never below min_buffer. Returns how many went. Without r nothing was
-- received, so neither rule is met.
local function trim_by_receipts(K, C, S, lim, delete_oldest)
  local by_oldest = delete_oldest and lim.delete_oldest_received == 1
  if (lim.min_recipients == 0 and not by_oldest) or not has_receipts(K) then return 0 end
  local dropped = 0
  while S.count > lim.min_buffer do
    local e = head(S)
    local got = tonumber(redis.call('HGET', K.r, e[1]) or '0')
    local enough = (lim.min_recipients > 0 and got >= lim.min_recipients) or
      (by_oldest and got > 0)
    if not enough then break end
    remove(C, S, e)
    dropped = dropped + 1
  end
  return dropped
end

-- c m r i, without r while it is absent.
local function keys_to_refresh(K)
  if has_receipts(K) then return {K.c, K.m, K.r, K.i} end
  return {K.c, K.m, K.i}
end
)lua";

// The reply of info and delete.
constexpr std::string_view kLuaInfo = R"lua(
-- Reads only (info, delete): the entries that have not expired.
local function unexpired_count(K, C, now)
  local stored = redis.call('XLEN', K.m)
  if cnum(C, 'xm') == 0 then return stored end
  local xs = cnum(C, 'xs')
  local walk_all = xs ~= 0 and xs <= now
  local gone = 0
  each_entry(K.m, '-', 16, function(e)
    if expired(expiry_of(e), now) then
      gone = gone + 1
      return true
    end
    return walk_all
  end)
  return stored - gone
end

-- {'ok', gen, messages, ms since the last request (-1: never), subscribers, last id}
local function info_of(K, C, now)
  local ago = -1
  if C.f.req then ago = math.max(now - tonumber(C.f.req), 0) end
  return {'ok', C.f.gen, unexpired_count(K, C, now), ago, (leases(C, now)),
    tonumber(C.f.lt or '-1'), cnum(C, 'lg')}
end
)lua";

// The idempotency set i.
constexpr std::string_view kLuaIdempotency = R"lua(
-- The idempotency set keeps ranks 0..-1025 (the last 1024) for 600 s.
local IDEMPOTENCY_OVER, IDEMPOTENCY_SECONDS = '-1025', 600

local function oldest_kept_score(sec) return (sec - IDEMPOTENCY_SECONDS) * 1000000 end

-- Adds `member` with the new id's score, unless it is there from the last 10 minutes: then it
-- returns the score it has (a duplicate). A stale member is told by its score, so the age prune
-- need not run first.
local function claim_member(K, member, score, sec)
  if redis.call('ZADD', K.i, 'NX', int(score), member) == 1 then return nil end
  local seen = tonumber(redis.call('ZSCORE', K.i, member))
  if seen >= oldest_kept_score(sec) then return seen end
  redis.call('ZADD', K.i, int(score), member)
  return nil
end

-- The last 1024 members, every time; those older than 10 minutes once a second (a publish
-- with tag 0), since claim_member ignores them meanwhile.
local function prune_members(K, sec, tag)
  redis.call('ZREMRANGEBYRANK', K.i, '0', IDEMPOTENCY_OVER)
  if tag == 0 then
    redis.call('ZREMRANGEBYSCORE', K.i, '-inf', '(' .. int(oldest_kept_score(sec)))
  end
end
)lua";

// KEYS c m r i; ARGV: publish command, pubsub channel, content type, body, idempotency member
// ('' none), store in Redis (1/0), the 7 limits, the EventSource event name ('' none), the id
// floor (seconds: the latest id time the publishing node has seen; '' none).
// The first write is ZADD, XADD or HSET, which Redis refuses at maxmemory (OOM → 507) before
// anything changed.
constexpr std::string_view kPublish = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4]}
local pubcmd, pubsub, ctype, body, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local packed = limits_from_args(ARGV, 7)
local lim = limits_of(packed)
local event = ARGV[14]
local store = ARGV[6] == '1' and lim.max_buffer > 0
local sec, now, us = clock()
local C = read_channel(K.c)
local gen, created, S = C.f.gen, 0, nil
if gen then
  put(C, 'lim', packed)
  S = open_stream(K)
else
  -- Leftovers of an expired generation must not meet the new one.
  redis.call('DEL', K.m, K.r, K.i)
  gen, created = create_channel(C, us, packed), 1
  S, K.has_r = open_stream(K, 0), false
end
local pt, pg = -1, 0
local t, g = sec, 0
if C.f.lt then
  pt, pg = tonumber(C.f.lt), cnum(C, 'lg')
  if t <= pt then t, g = pt, pg + 1 end
elseif ARGV[15] ~= '' and tonumber(ARGV[15]) >= sec then
  -- No last id: a new channel, or one Redis lost with its data. The node has seen ids of this
  -- second or later, possibly this channel's: the first id goes after them.
  t = tonumber(ARGV[15]) + 1
end
local add = 0
if store then add = 1 end
drop_expired(K, C, S, now, math.max(S.count + add - lim.max_buffer, 0) + 1)
if member ~= '' then
  local seen = claim_member(K, member, t * 1000000 + g, sec)
  if seen then
    local st = math.floor(seen / 1000000)
    forget_bounds_if_empty(C, S)
    write_channel(C)
    write_stream(K, S)
    return {st, seen - st * 1000000, gen, S.count, (leases(C, now)), created, 1}
  end
end
local lt, lg = int(t), int(g)
put(C, 'lt', lt)
put(C, 'lg', lg)
local x = 0
if lim.message_timeout > 0 then x = now + lim.message_timeout end
if store then add_entry(K, C, S, lt .. '-' .. lg, ctype, body, x, event) end
trim_to_max(C, S, lim)
trim_by_receipts(K, C, S, lim, false)
if member ~= '' then prune_members(K, sec, g) end
forget_bounds_if_empty(C, S)
local subscribers, lease_end = leases(C, now)
local ot, og = oldest_id(S)
write_channel(C)
write_stream(K, S)
refresh_expiry(C, keys_to_refresh(K), now, lim, lease_end)
local flags = 0
if store then flags = 1 end
redis.call(pubcmd, pubsub, struct.pack('<c1 I8 i8 I4 i8 I4 i8 I4 i8 B c0 I4 c0 I4 c0 I4 c0',
  'M', gen_number(gen), t, g, pt, pg, ot, og, x, flags, packed, #ctype, ctype, #body, body,
  #event, event))
return {t, g, gen, S.count, subscribers, created, 0}
)lua";

// KEYS c m x; ARGV: since time ('' none), since tag, max messages, gen ('' none), may create
// (1/0), the 7 limits.
constexpr std::string_view kFetch = R"lua(
local K = {c = KEYS[1], m = KEYS[2], x = KEYS[3]}
local want_gen = ARGV[4]
local _, now, us = clock()
local c = redis.call('HMGET', K.c, 'gen', 'lt', 'lg')
local gen, created = c[1], 0
if gen and want_gen ~= '' and gen ~= want_gen then return {'gone'} end
if gen then
  redis.call('HSET', K.c, 'req', int(now))
else
  if want_gen ~= '' and redis.call('GET', K.x) == want_gen then return {'gone'} end
  if ARGV[5] ~= '1' then return {'forbidden'} end
  redis.call('DEL', K.m)
  local packed = limits_from_args(ARGV, 6)
  gen, created = new_gen(us), 1
  redis.call('HSET', K.c, 'gen', gen, 'lim', packed, 'req', int(now))
  redis.call('PEXPIRE', K.c, int(math.max(limits_of(packed).channel_timeout, 1)))
end
local want = tonumber(ARGV[3])
local from = '-'
if ARGV[1] ~= '' then from = '(' .. ARGV[1] .. '-' .. ARGV[2] end
local out = {}
each_entry(K.m, from, math.min(want, 100), function(e)
  local f = fields(e)
  local x = tonumber(f.x)
  if not expired(x, now) then
    local t, g = split_id(e[1])
    out[#out + 1] = {t, g, f.t, f.b, x, f.e or ''}
  end
  return #out < want
end)
return {'ok', gen, created, tonumber(c[2] or '-1'), tonumber(c[3] or '0'), out}
)lua";

// KEYS c m r i x; ARGV: publish command, pubsub channel.
constexpr std::string_view kDelete = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4], x = KEYS[5]}
local _, now = clock()
local C = read_channel(K.c)
local gen = C.f.gen
if not gen then return {'absent'} end
local info = info_of(K, C, now)
redis.call('DEL', K.c, K.m, K.r, K.i)
redis.call('SET', K.x, gen, 'PX', 60000)
redis.call(ARGV[1], ARGV[2], struct.pack('<c1 I8', 'D', gen_number(gen)))
return info
)lua";

// KEYS c m. Reads only: expired entries are skipped, not dropped (info has no r key to keep
// in step).
constexpr std::string_view kInfo = R"lua(
local K = {c = KEYS[1], m = KEYS[2]}
local _, now = clock()
local C = read_channel(K.c)
if not C.f.gen then return {'absent'} end
return info_of(K, C, now)
)lua";

// KEYS c m r i x; ARGV: node, waiters, requested (1/0).
constexpr std::string_view kCount = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4], x = KEYS[5]}
local _, now = clock()
local C = read_channel(K.c)
if not C.f.gen then return {absent_or_gone(K.x), 0} end
local lease, waiters = 'n:' .. ARGV[1], tonumber(ARGV[2])
if waiters > 0 then
  put(C, lease, int(waiters) .. ' ' .. int(now + LEASE_MS))
else
  put(C, lease, nil)
end
if ARGV[3] == '1' then put(C, 'req', int(math.max(cnum(C, 'req'), now))) end
local subscribers, lease_end = leases(C, now, nil, true)
write_channel(C)
refresh_expiry(C, {K.c, K.m, K.r, K.i}, now, limits_of(C.f.lim), lease_end)
return {'ok', subscribers}
)lua";

// KEYS c; ARGV: publish command, pubsub channel, mode (last|first), node.
constexpr std::string_view kKick = R"lua(
local c = KEYS[1]
local _, now = clock()
local C = read_channel(c)
local gen = C.f.gen
if not gen then return {'absent', 0} end
if ARGV[3] == 'first' then
  local lease = 'n:' .. ARGV[4]
  if leases(C, now, lease) > 0 then return {'conflict', 0} end
  redis.call('HSET', c, lease, '1 ' .. int(now + LEASE_MS))
  -- Only c is in KEYS: keep it for the lease. c outliving m only loses expired messages.
  local lim = limits_of(C.f.lim)
  local ttl = redis.call('PTTL', c)
  if ttl >= 0 and ttl < LEASE_MS + lim.channel_timeout then
    redis.call('PEXPIRE', c, int(LEASE_MS + lim.channel_timeout))
  end
  return {'ok', 0}
end
local seq = redis.call('HINCRBY', c, 'ks', 1)
redis.call(ARGV[1], ARGV[2], struct.pack('<c1 I8 I8 I8', 'K', gen_number(gen), seq,
  gen_number(ARGV[4])))
return {'ok', seq}
)lua";

// KEYS c m r i; ARGV: publish command, pubsub channel, then pairs: entry id, receipts.
constexpr std::string_view kReceipt = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4]}
local _, now = clock()
local C = read_channel(K.c)
local gen = C.f.gen
if not gen then return {'absent', 0, 0, -1, 0} end
local lim = limits_of(C.f.lim)
if lim.min_recipients > 0 or lim.delete_oldest_received == 1 then
  for i = 3, #ARGV, 2 do
    if #redis.call('XRANGE', K.m, ARGV[i], ARGV[i], 'COUNT', 1) > 0 then
      redis.call('HINCRBY', K.r, ARGV[i], ARGV[i + 1])
      K.has_r = true
    end
  end
end
local S = open_stream(K)
drop_expired(K, C, S, now, 1)
local trimmed = trim_by_receipts(K, C, S, lim, true)
forget_bounds_if_empty(C, S)
local _, lease_end = leases(C, now)
local ot, og = oldest_id(S)
write_channel(C)
write_stream(K, S)
refresh_expiry(C, keys_to_refresh(K), now, lim, lease_end)
if trimmed > 0 then
  redis.call(ARGV[1], ARGV[2], struct.pack('<c1 I8 i8 I4', 'T', gen_number(gen), ot, og))
end
return {'ok', trimmed, S.count, ot, og}
)lua";

constexpr std::size_t kScripts = 7;

struct ScriptText {
    std::string_view name;
    std::string source;
    std::string sha1;
};

std::string sha1_hex(std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha1(), nullptr);
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) {
        std::array<char, 3> byte{};
        std::snprintf(byte.data(), byte.size(), "%02x", digest[i]);
        hex += byte.data();
    }
    return hex;
}

// A script's parts: its helper sections, in order (each needs only those before it), then its
// body. Each script carries only the helpers it calls: Redis builds every helper's closure
// on every call.
struct ScriptParts {
    std::string_view name;
    std::vector<std::string_view> helpers;
    std::string_view body;
};

const ScriptText& text_of(Script script) {
    static const std::array<ScriptText, kScripts> texts = [] {
        const std::string_view base = kLuaBase, channel = kLuaChannel, stream = kLuaStream,
                               info = kLuaInfo, idempotency = kLuaIdempotency;
        // In the order of enum Script.
        const std::array<ScriptParts, kScripts> parts{{
            {"publish", {base, channel, stream, idempotency}, kPublish},
            {"fetch", {base}, kFetch},
            {"delete", {base, channel, info}, kDelete},
            {"info", {base, channel, info}, kInfo},
            {"count", {base, channel}, kCount},
            {"kick", {base, channel}, kKick},
            {"receipt", {base, channel, stream}, kReceipt},
        }};
        std::array<ScriptText, kScripts> out;
        for (std::size_t i = 0; i < kScripts; ++i) {
            std::string source =
                "-- pushrelay " + std::string(parts[i].name) + " (doc/redis-format.md)\n";
            for (std::string_view helpers : parts[i].helpers) source += helpers;
            source += parts[i].body;
            out[i] = ScriptText{parts[i].name, source, sha1_hex(source)};
        }
        return out;
    }();
    return texts[static_cast<std::size_t>(script)];
}

// ---- building calls ----

std::string_view publish_command_name(PublishCommand command) {
    return command == PublishCommand::SPublish ? "SPUBLISH" : "PUBLISH";
}

// The 7 limits, in the order of the Lua LIMITS layout (doc/redis-format.md §3).
void append_limits(std::vector<std::string>& args, const core::ChannelLimits& limits) {
    args.push_back(std::to_string(limits.min_buffer));
    args.push_back(std::to_string(limits.max_buffer));
    args.push_back(std::to_string(limits.message_timeout_ms));
    args.push_back(std::to_string(limits.min_recipients));
    args.push_back(limits.delete_oldest_received ? "1" : "0");
    args.push_back(std::to_string(limits.channel_timeout_ms));
    args.push_back(limits.store_messages ? "1" : "0");
}

std::string hex(std::uint64_t value) {
    std::array<char, 17> out{};
    const auto end = std::to_chars(out.data(), out.data() + out.size(), value, 16).ptr;
    return std::string(out.data(), end);
}

std::string entry_id(core::MessageId id) {
    return std::to_string(id.time) + "-" + std::to_string(id.tag);
}

// The first arguments of every script that notifies.
std::vector<std::string> notify_args(const Target& target) {
    return {std::string(publish_command_name(target.publish)), target.keys.pubsub};
}

// ---- parsing replies ----

// Reads the elements of a script's array reply in order. The first mismatch sticks: later
// reads return zeros, and error() says which element was wrong.
class ReplyReader {
  public:
    ReplyReader(const Value& reply, std::string_view script) : script_(script) {
        if (reply.type == Value::Type::Error)
            error_ = std::string(script) + ": " + reply.string;
        else if (reply.type != Value::Type::Array)
            error_ = std::string(script) + ": the reply is not an array";
        else
            reply_ = &reply;
    }

    std::size_t size() const { return reply_ ? reply_->elements.size() : 0; }
    bool failed() const { return !error_.empty(); }
    const ReplyError& error() const { return error_; }

    long long integer(const char* what) {
        const Value* e = next(what, Value::Type::Integer);
        return e ? e->integer : 0;
    }

    std::uint64_t count(const char* what) {
        const long long value = integer(what);
        if (value < 0)
            fail(what, "is negative");
        return value < 0 ? 0 : static_cast<std::uint64_t>(value);
    }

    std::string string(const char* what) {
        const Value* e = next(what, Value::Type::String);
        return e ? e->string : std::string();
    }

    std::uint64_t gen(const char* what) {
        const std::string text = string(what);
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
        if (!failed() && (ec != std::errc() || end != text.data() + text.size() || text.empty()))
            fail(what, "is not a hex generation");
        return value;
    }

    // Time, then tag; a time of -1 is none.
    std::optional<core::MessageId> optional_id(const char* what) {
        const long long time = integer(what);
        const long long tag = integer(what);
        if (time == -1)
            return std::nullopt;
        if (time < 0 || tag < 0 || tag > 0xffffffffLL)
            fail(what, "is out of range");
        return core::MessageId{time, static_cast<std::uint32_t>(tag)};
    }

    core::MessageId id(const char* what) {
        const std::optional<core::MessageId> id = optional_id(what);
        if (!id)
            fail(what, "is none");
        return id.value_or(core::MessageId{});
    }

    // A nested array, read by its own reader.
    ReplyReader array(const char* what) {
        const Value* e = next(what, Value::Type::Array);
        if (!e)
            return ReplyReader(error_);
        return ReplyReader(*e, script_);
    }

    // Adopts a nested reader's error.
    void take_error(const ReplyReader& nested) {
        if (!failed() && nested.failed())
            error_ = nested.error_;
    }

    void fail(const char* what, const char* why) {
        if (!failed())
            error_ = std::string(script_) + ": " + what + " " + why;
    }

  private:
    explicit ReplyReader(const ReplyError& error) : error_(error) {}

    const Value* next(const char* what, Value::Type type) {
        if (failed())
            return nullptr;
        if (index_ >= reply_->elements.size()) {
            fail(what, "is missing");
            return nullptr;
        }
        const Value* e = &reply_->elements[index_++];
        if (e->type != type) {
            fail(what, "has the wrong type");
            return nullptr;
        }
        return e;
    }

    const Value* reply_ = nullptr;
    std::string_view script_;
    std::size_t index_ = 0;
    ReplyError error_;
};

template <typename T>
std::variant<T, ReplyError> result(const ReplyReader& in, T value) {
    if (in.failed())
        return in.error();
    return value;
}

LeaseStatus lease_status(ReplyReader& in) {
    const std::string status = in.string("status");
    if (status == "ok")
        return LeaseStatus::Ok;
    if (status == "absent")
        return LeaseStatus::Absent;
    if (status == "gone")
        return LeaseStatus::Gone;
    if (status == "conflict")
        return LeaseStatus::Conflict;
    in.fail("status", "is unknown");
    return LeaseStatus::Ok;
}

// info_of()'s shape; the status was read.
InfoReply read_info(ReplyReader& in) {
    InfoReply info;
    info.exists = true;
    info.gen = in.gen("gen");
    info.messages = in.count("messages");
    info.requested_ms_ago = in.integer("requested");
    info.subscribers = in.count("subscribers");
    info.newest = in.optional_id("last id");
    return info;
}

std::variant<InfoReply, ReplyError> parse_info_shape(const Value& reply, std::string_view script) {
    ReplyReader in(reply, script);
    const std::string status = in.string("status");
    if (in.failed() || status == "absent")
        return result(in, InfoReply{});
    if (status != "ok")
        in.fail("status", "is unknown");
    InfoReply info = read_info(in);
    return result(in, info);
}

}  // namespace

std::string_view script_source(Script script) {
    return text_of(script).source;
}

std::string_view script_sha1(Script script) {
    return text_of(script).sha1;
}

std::string_view script_name(Script script) {
    return text_of(script).name;
}

std::vector<std::string> ScriptCall::evalsha_argv() const {
    std::vector<std::string> argv{"EVALSHA", std::string(script_sha1(script)),
                                  std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::string header_idempotency(std::string_view header_value) {
    return "h:" + std::string(header_value);
}

std::string retry_idempotency(std::uint64_t node, std::uint64_t sequence) {
    return "n:" + hex(node) + ":" + std::to_string(sequence);
}

ScriptCall publish_call(const Target& target, const PublishRequest& request) {
    const ChannelKeys& k = target.keys;
    ScriptCall call{
        Script::Publish, {k.channel, k.messages, k.receipts, k.idempotency}, notify_args(target)};
    call.args.emplace_back(request.content_type);
    call.args.emplace_back(request.body);
    call.args.push_back(request.idempotency);
    const bool store = request.mode == StorageMode::Distributed && request.limits.store_messages;
    call.args.push_back(store ? "1" : "0");
    append_limits(call.args, request.limits);
    call.args.emplace_back(request.event);
    call.args.push_back(request.id_floor ? std::to_string(*request.id_floor) : "");
    return call;
}

ScriptCall fetch_call(const ChannelKeys& keys, const FetchRequest& request) {
    ScriptCall call{Script::Fetch, {keys.channel, keys.messages, keys.tombstone}, {}};
    call.args.push_back(request.since ? std::to_string(request.since->time) : "");
    call.args.push_back(request.since ? std::to_string(request.since->tag) : "");
    call.args.push_back(std::to_string(std::max<std::uint32_t>(request.max_messages, 1)));
    call.args.push_back(request.gen ? hex(*request.gen) : "");
    call.args.push_back(request.may_create ? "1" : "0");
    append_limits(call.args, request.limits);
    return call;
}

ScriptCall delete_call(const Target& target) {
    const ChannelKeys& k = target.keys;
    return {Script::Delete,
            {k.channel, k.messages, k.receipts, k.idempotency, k.tombstone},
            notify_args(target)};
}

ScriptCall info_call(const ChannelKeys& keys) {
    return {Script::Info, {keys.channel, keys.messages}, {}};
}

ScriptCall count_call(const ChannelKeys& keys, const CountRequest& request) {
    return {Script::Count,
            {keys.channel, keys.messages, keys.receipts, keys.idempotency, keys.tombstone},
            {hex(request.node), std::to_string(request.waiters), request.requested ? "1" : "0"}};
}

ScriptCall kick_call(const Target& target, KickMode mode, std::uint64_t node) {
    ScriptCall call{Script::Kick, {target.keys.channel}, notify_args(target)};
    call.args.push_back(mode == KickMode::First ? "first" : "last");
    call.args.push_back(hex(node));
    return call;
}

ScriptCall receipt_call(const Target& target, const std::vector<Receipt>& receipts) {
    const ChannelKeys& k = target.keys;
    ScriptCall call{
        Script::Receipt, {k.channel, k.messages, k.receipts, k.idempotency}, notify_args(target)};
    for (const Receipt& receipt : receipts) {
        call.args.push_back(entry_id(receipt.id));
        call.args.push_back(std::to_string(receipt.count));
    }
    return call;
}

std::variant<PublishReply, ReplyError> parse_publish_reply(const Value& reply) {
    ReplyReader in(reply, "publish");
    PublishReply out;
    out.id = in.id("id");
    out.gen = in.gen("gen");
    out.stored = in.count("stored");
    out.subscribers = in.count("subscribers");
    out.created = in.integer("created") != 0;
    out.duplicate = in.integer("duplicate") != 0;
    return result(in, out);
}

std::variant<FetchReply, ReplyError> parse_fetch_reply(const Value& reply) {
    ReplyReader in(reply, "fetch");
    FetchReply out;
    const std::string status = in.string("status");
    if (status == "gone" || status == "forbidden") {
        out.status = status == "gone" ? FetchStatus::Gone : FetchStatus::Forbidden;
        return result(in, out);
    }
    if (!in.failed() && status != "ok")
        in.fail("status", "is unknown");
    out.gen = in.gen("gen");
    out.created = in.integer("created") != 0;
    out.newest = in.optional_id("last id");
    ReplyReader list = in.array("messages");
    for (std::size_t i = 0; i < list.size() && !list.failed(); ++i) {
        ReplyReader entry = list.array("message");
        StoredMessage message;
        message.id = entry.id("message id");
        message.content_type = entry.string("content type");
        message.body = entry.string("body");
        message.expires_at_ms = entry.integer("expires_at");
        message.event = entry.string("event");
        list.take_error(entry);
        out.messages.push_back(std::move(message));
    }
    in.take_error(list);
    return result(in, out);
}

std::variant<InfoReply, ReplyError> parse_info_reply(const Value& reply) {
    return parse_info_shape(reply, "info");
}

std::variant<InfoReply, ReplyError> parse_delete_reply(const Value& reply) {
    return parse_info_shape(reply, "delete");
}

std::variant<CountReply, ReplyError> parse_count_reply(const Value& reply) {
    ReplyReader in(reply, "count");
    CountReply out;
    out.status = lease_status(in);
    out.subscribers = in.count("subscribers");
    return result(in, out);
}

std::variant<KickReply, ReplyError> parse_kick_reply(const Value& reply) {
    ReplyReader in(reply, "kick");
    KickReply out;
    out.status = lease_status(in);
    out.seq = in.count("kick seq");
    return result(in, out);
}

std::variant<ReceiptReply, ReplyError> parse_receipt_reply(const Value& reply) {
    ReplyReader in(reply, "receipt");
    ReceiptReply out;
    out.exists = lease_status(in) == LeaseStatus::Ok;
    out.trimmed = in.count("trimmed");
    out.stored = in.count("stored");
    out.oldest = in.optional_id("oldest id");
    return result(in, out);
}

}  // namespace pushrelay::redis
