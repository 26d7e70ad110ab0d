#include "redis/scripts.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace pushrelay::redis {

namespace {

// ---- the Lua ----
// Helpers every script starts with (doc/redis-format.md §4 names the `c` fields they keep).
// Redis runs Lua 5.1: numbers are doubles, exact up to 2^53, so gens (µs) and ids fit; integers
// are formatted with %d, since tostring() would print 1.7e+15.
constexpr std::string_view kPrelude = R"lua(
local LEASE_MS = 30000
local LIMITS = '<I4 I4 i8 I4 B i8 B'

local function clock()
  local t = redis.call('TIME')
  local sec, usec = tonumber(t[1]), tonumber(t[2])
  return sec, sec * 1000 + math.floor(usec / 1000), sec * 1000000 + usec
end

local function int(n) return string.format('%d', n) end

local function hnum(key, field) return tonumber(redis.call('HGET', key, field) or '0') end

local function split_id(id)
  local t, g = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(t), tonumber(g)
end

local function fields(entry)
  local f, kv = {}, entry[2]
  for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
  return f
end

local function expiry_of(entry) return tonumber(fields(entry).x) end
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

local function gen_of(c) return redis.call('HGET', c, 'gen') end
local function gen_number(gen) return tonumber(gen, 16) end

-- A new generation: the creation time in µs, hex.
local function create_channel(c, us, packed_limits)
  local gen = string.format('%x', us)
  redis.call('HSET', c, 'gen', gen, 'lim', packed_limits)
  return gen
end

local function absent_or_gone(x)
  if redis.call('EXISTS', x) == 1 then return 'gone' end
  return 'absent'
end

-- Calls visit(entry) on the entries after `from` ('-': all; '(<id>': after that id), oldest
-- first, `batch` at a time, until visit returns false or the stream ends.
local function each_entry(m, from, batch, visit)
  while true do
    local entries = redis.call('XRANGE', m, from, '+', 'COUNT', batch)
    for _, e in ipairs(entries) do
      if not visit(e) then return end
    end
    if #entries < batch then return end
    from = '(' .. entries[#entries][1]
  end
end

local function head(m) return redis.call('XRANGE', m, '-', '+', 'COUNT', 1)[1] end

local function oldest_id(m)
  local e = head(m)
  if not e then return -1, 0 end
  return split_id(e[1])
end

-- c's nx: stored messages that never expire; xm: at least the latest expiry of the others;
-- xs: at most the earliest expiry of a straggler (one expiring before an older one), absent if
-- none. Every removal goes through drop_entry so that nx stays exact.
local function drop_entry(K, e)
  redis.call('XDEL', K.m, e[1])
  redis.call('HDEL', K.r, e[1])
  if expiry_of(e) == 0 then redis.call('HINCRBY', K.c, 'nx', -1) end
end

local function add_entry(K, id, ctype, body, x, event)
  local newest = redis.call('XREVRANGE', K.m, '+', '-', 'COUNT', 1)[1]
  if newest and expiry_rank(x) < expiry_rank(expiry_of(newest)) then
    local xs = hnum(K.c, 'xs')
    if xs == 0 or x < xs then redis.call('HSET', K.c, 'xs', int(x)) end
  end
  if event ~= '' then
    redis.call('XADD', K.m, id, 't', ctype, 'b', body, 'x', int(x), 'e', event)
  else
    redis.call('XADD', K.m, id, 't', ctype, 'b', body, 'x', int(x))
  end
  if x == 0 then
    redis.call('HINCRBY', K.c, 'nx', 1)
  elseif x > hnum(K.c, 'xm') then
    redis.call('HSET', K.c, 'xm', int(x))
  end
end

local function forget_bounds_if_empty(K)
  if redis.call('XLEN', K.m) == 0 then redis.call('HDEL', K.c, 'nx', 'xm', 'xs') end
end

-- Expiry beats min_buffer (protocol.md): every expired entry goes. O(dropped) while the
-- stream expires in order; one walk of it once a straggler may have expired.
local function drop_expired(K, now)
  while true do
    local e = head(K.m)
    if not e or not expired(expiry_of(e), now) then break end
    drop_entry(K, e)
  end
  local xs = hnum(K.c, 'xs')
  if xs == 0 or xs > now then return end
  local latest, straggler = 0, math.huge
  each_entry(K.m, '-', 64, function(e)
    local x = expiry_of(e)
    if expired(x, now) then
      drop_entry(K, e)
    else
      if expiry_rank(x) < latest then straggler = math.min(straggler, x) end
      latest = math.max(latest, expiry_rank(x))
    end
    return true
  end)
  if straggler == math.huge then
    redis.call('HDEL', K.c, 'xs')
  else
    redis.call('HSET', K.c, 'xs', int(straggler))
  end
end

local function unexpired_count(K, now)
  local xs = hnum(K.c, 'xs')
  local walk_all = xs ~= 0 and xs <= now
  local gone = 0
  each_entry(K.m, '-', 16, function(e)
    if expired(expiry_of(e), now) then
      gone = gone + 1
      return true
    end
    return walk_all
  end)
  return redis.call('XLEN', K.m) - gone
end

local function trim_to_max(K, lim)
  local excess = redis.call('XLEN', K.m) - lim.max_buffer
  if excess <= 0 then return end
  for _, e in ipairs(redis.call('XRANGE', K.m, '-', '+', 'COUNT', excess)) do drop_entry(K, e) end
end

-- min_recipients, and with `delete_oldest` delete_oldest_received: the oldest goes once
-- received enough, never below min_buffer. Returns how many went.
local function trim_by_receipts(K, lim, delete_oldest)
  local dropped = 0
  while redis.call('XLEN', K.m) > lim.min_buffer do
    local e = head(K.m)
    local got = tonumber(redis.call('HGET', K.r, e[1]) or '0')
    local enough = (lim.min_recipients > 0 and got >= lim.min_recipients) or
      (delete_oldest and lim.delete_oldest_received == 1 and got > 0)
    if not enough then break end
    drop_entry(K, e)
    dropped = dropped + 1
  end
  return dropped
end

-- The waiters of the live leases (n:<node> = '<waiters> <until ms>') other than `skip`, and the
-- latest lease end; with `drop_dead`, lapsed leases are deleted.
local function leases(c, now, skip, drop_dead)
  local all = redis.call('HGETALL', c)
  local waiters, latest = 0, 0
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'n:' and all[i] ~= skip then
      local w, u = string.match(all[i + 1], '^(%d+) (%d+)$')
      if u and tonumber(u) > now then
        waiters = waiters + tonumber(w)
        latest = math.max(latest, tonumber(u))
      elseif drop_dead then
        redis.call('HDEL', c, all[i])
      end
    end
  end
  return waiters, latest
end

-- Keys expire on their own: channel_timeout after the later of the last stored message's
-- expiry and the last lease; never while a stored message never expires.
local function refresh_expiry(K, keys, now, lim, lease_end)
  if hnum(K.c, 'nx') > 0 then
    for _, k in ipairs(keys) do redis.call('PERSIST', k) end
    return
  end
  local ttl = math.max(now, hnum(K.c, 'xm'), lease_end) - now + lim.channel_timeout
  for _, k in ipairs(keys) do redis.call('PEXPIRE', k, int(math.max(ttl, 1))) end
end

-- {'ok', gen, messages, ms since the last request (-1: never), subscribers, last id}
local function info_of(K, gen, now)
  local req = redis.call('HGET', K.c, 'req')
  local ago = -1
  if req then ago = math.max(now - tonumber(req), 0) end
  local lt = redis.call('HGET', K.c, 'lt')
  return {'ok', gen, unexpired_count(K, now), ago, (leases(K.c, now, nil, false)),
    tonumber(lt or '-1'), hnum(K.c, 'lg')}
end
)lua";

// KEYS c m r i; ARGV: publish command, pubsub channel, content type, body, idempotency member
// ('' none), store in Redis (1/0), the 7 limits, the EventSource event name ('' none).
constexpr std::string_view kPublish = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4]}
local pubcmd, pubsub, ctype, body, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local packed = limits_from_args(ARGV, 7)
local lim = limits_of(packed)
local event = ARGV[14]
local sec, now, us = clock()
local gen, created = gen_of(K.c), 0
if gen then
  redis.call('HSET', K.c, 'lim', packed)
else
  -- Leftovers of an expired generation must not meet the new one.
  redis.call('DEL', K.m, K.r, K.i)
  gen, created = create_channel(K.c, us, packed), 1
end
drop_expired(K, now)
if member ~= '' then
  redis.call('ZREMRANGEBYSCORE', K.i, '-inf', '(' .. int((sec - 600) * 1000000))
  local seen = redis.call('ZSCORE', K.i, member)
  if seen then
    local score = tonumber(seen)
    local t = math.floor(score / 1000000)
    forget_bounds_if_empty(K)
    return {t, score - t * 1000000, gen, redis.call('XLEN', K.m), (leases(K.c, now, nil, false)),
      created, 1}
  end
end
local pt, pg = -1, 0
local t, g = sec, 0
local lt = redis.call('HGET', K.c, 'lt')
if lt then
  pt, pg = tonumber(lt), hnum(K.c, 'lg')
  if t <= pt then t, g = pt, pg + 1 end
end
redis.call('HSET', K.c, 'lt', int(t), 'lg', int(g))
local x = 0
if lim.message_timeout > 0 then x = now + lim.message_timeout end
local store = ARGV[6] == '1' and lim.max_buffer > 0
if store then add_entry(K, int(t) .. '-' .. int(g), ctype, body, x, event) end
trim_to_max(K, lim)
trim_by_receipts(K, lim, false)
if member ~= '' then
  redis.call('ZADD', K.i, int(t * 1000000 + g), member)
  redis.call('ZREMRANGEBYRANK', K.i, 0, -1025)
end
forget_bounds_if_empty(K)
local subscribers, lease_end = leases(K.c, now, nil, false)
refresh_expiry(K, {K.c, K.m, K.r, K.i}, now, lim, lease_end)
local ot, og = oldest_id(K.m)
local flags = 0
if store then flags = 1 end
redis.call(pubcmd, pubsub, struct.pack('<c1 I8 i8 I4 i8 I4 i8 I4 i8 B c0 I4 c0 I4 c0 I4 c0',
  'M', gen_number(gen), t, g, pt, pg, ot, og, x, flags, packed, #ctype, ctype, #body, body,
  #event, event))
return {t, g, gen, redis.call('XLEN', K.m), subscribers, created, 0}
)lua";

// KEYS c m x; ARGV: since time ('' none), since tag, max messages, gen ('' none), may create
// (1/0), the 7 limits.
constexpr std::string_view kFetch = R"lua(
local K = {c = KEYS[1], m = KEYS[2], x = KEYS[3]}
local want_gen = ARGV[4]
local _, now, us = clock()
local gen, created = gen_of(K.c), 0
if gen and want_gen ~= '' and gen ~= want_gen then return {'gone'} end
if not gen then
  if want_gen ~= '' and redis.call('GET', K.x) == want_gen then return {'gone'} end
  if ARGV[5] ~= '1' then return {'forbidden'} end
  redis.call('DEL', K.m)
  local packed = limits_from_args(ARGV, 6)
  gen, created = create_channel(K.c, us, packed), 1
  redis.call('PEXPIRE', K.c, int(math.max(limits_of(packed).channel_timeout, 1)))
end
redis.call('HSET', K.c, 'req', int(now))
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
local lt = redis.call('HGET', K.c, 'lt')
return {'ok', gen, created, tonumber(lt or '-1'), hnum(K.c, 'lg'), out}
)lua";

// KEYS c m r i x; ARGV: publish command, pubsub channel.
constexpr std::string_view kDelete = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4], x = KEYS[5]}
local _, now = clock()
local gen = gen_of(K.c)
if not gen then return {'absent'} end
local info = info_of(K, gen, now)
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
local gen = gen_of(K.c)
if not gen then return {'absent'} end
return info_of(K, gen, now)
)lua";

// KEYS c m r i x; ARGV: node, waiters, requested (1/0).
constexpr std::string_view kCount = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4], x = KEYS[5]}
local _, now = clock()
if not gen_of(K.c) then return {absent_or_gone(K.x), 0} end
local lease, waiters = 'n:' .. ARGV[1], tonumber(ARGV[2])
if waiters > 0 then
  redis.call('HSET', K.c, lease, int(waiters) .. ' ' .. int(now + LEASE_MS))
else
  redis.call('HDEL', K.c, lease)
end
if ARGV[3] == '1' then
  redis.call('HSET', K.c, 'req', int(math.max(hnum(K.c, 'req'), now)))
end
local subscribers, lease_end = leases(K.c, now, nil, true)
local lim = limits_of(redis.call('HGET', K.c, 'lim'))
refresh_expiry(K, {K.c, K.m, K.r, K.i}, now, lim, lease_end)
return {'ok', subscribers}
)lua";

// KEYS c; ARGV: publish command, pubsub channel, mode (last|first), node.
constexpr std::string_view kKick = R"lua(
local c = KEYS[1]
local _, now = clock()
local gen = gen_of(c)
if not gen then return {'absent', 0} end
if ARGV[3] == 'first' then
  local lease = 'n:' .. ARGV[4]
  if leases(c, now, lease, false) > 0 then return {'conflict', 0} end
  redis.call('HSET', c, lease, '1 ' .. int(now + LEASE_MS))
  -- Only c is in KEYS: keep it for the lease. c outliving m only loses expired messages.
  local lim = limits_of(redis.call('HGET', c, 'lim'))
  local ttl = redis.call('PTTL', c)
  if ttl >= 0 and ttl < LEASE_MS + lim.channel_timeout then
    redis.call('PEXPIRE', c, int(LEASE_MS + lim.channel_timeout))
  end
  return {'ok', 0}
end
local seq = redis.call('HINCRBY', c, 'ks', 1)
redis.call(ARGV[1], ARGV[2], struct.pack('<c1 I8 I8', 'K', gen_number(gen), seq))
return {'ok', seq}
)lua";

// KEYS c m r i; ARGV: publish command, pubsub channel, then pairs: entry id, receipts.
constexpr std::string_view kReceipt = R"lua(
local K = {c = KEYS[1], m = KEYS[2], r = KEYS[3], i = KEYS[4]}
local _, now = clock()
local gen = gen_of(K.c)
if not gen then return {'absent', 0, 0, -1, 0} end
local lim = limits_of(redis.call('HGET', K.c, 'lim'))
if lim.min_recipients > 0 or lim.delete_oldest_received == 1 then
  for i = 3, #ARGV, 2 do
    if #redis.call('XRANGE', K.m, ARGV[i], ARGV[i], 'COUNT', 1) > 0 then
      redis.call('HINCRBY', K.r, ARGV[i], ARGV[i + 1])
    end
  end
end
drop_expired(K, now)
local trimmed = trim_by_receipts(K, lim, true)
forget_bounds_if_empty(K)
local _, lease_end = leases(K.c, now, nil, false)
refresh_expiry(K, {K.c, K.m, K.r, K.i}, now, lim, lease_end)
local ot, og = oldest_id(K.m)
if trimmed > 0 then
  redis.call(ARGV[1], ARGV[2], struct.pack('<c1 I8 i8 I4', 'T', gen_number(gen), ot, og))
end
return {'ok', trimmed, redis.call('XLEN', K.m), ot, og}
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

const ScriptText& text_of(Script script) {
    static const std::array<ScriptText, kScripts> texts = [] {
        // In the order of enum Script.
        const std::array<std::pair<std::string_view, std::string_view>, kScripts> bodies{{
            {"publish", kPublish},
            {"fetch", kFetch},
            {"delete", kDelete},
            {"info", kInfo},
            {"count", kCount},
            {"kick", kKick},
            {"receipt", kReceipt},
        }};
        std::array<ScriptText, kScripts> out;
        for (std::size_t i = 0; i < kScripts; ++i) {
            const std::string source = "-- pushrelay " + std::string(bodies[i].first) +
                                       " (doc/redis-format.md)" + std::string(kPrelude) +
                                       std::string(bodies[i].second);
            out[i] = ScriptText{bodies[i].first, source, sha1_hex(source)};
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
