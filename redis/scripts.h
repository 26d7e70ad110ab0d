// redis/scripts.h — the Lua scripts that are Redis mode's store (shared/scale-out.md "Scripts"):
// their sources and SHA1s, a typed builder of each call's KEYS and ARGV, and a parser of each
// reply. Every key a script touches is in KEYS; time is Redis's `TIME`, read inside the script;
// the frames they PUBLISH are redis/frames.h. doc/redis-format.md documents the keys' fields.
//
// Run by workers (publish, fetch, delete, info) and by the relay (fetch, count, kick, receipt).
// Pure: no connection. A caller sends ScriptCall::evalsha_argv() and, on NOSCRIPT, SCRIPT LOAD
// of script_source() and the same call once more.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/channel.h"
#include "core/message_id.h"
#include "redis/keys.h"
#include "redis/value.h"

namespace pushrelay::redis {

enum class Script { Publish, Fetch, Delete, Info, Count, Kick, Receipt };

// The script's Lua source (a shared prelude of helpers, then its body). Static storage.
std::string_view script_source(Script script);
// The lowercase hex SHA1 of script_source(), as SCRIPT LOAD returns it; computed once.
std::string_view script_sha1(Script script);
std::string_view script_name(Script script);

// How a script notifies: PUBLISH on a standalone Redis, SPUBLISH in a Cluster.
enum class PublishCommand { Publish, SPublish };

// Which channel a call is about, and how its frames go out.
struct Target {
    const ChannelKeys& keys;  // must outlive the builder call only: the call copies the names
    PublishCommand publish = PublishCommand::Publish;
};

// One EVALSHA call: the script and its KEYS and ARGV.
struct ScriptCall {
    Script script;
    std::vector<std::string> keys;
    std::vector<std::string> args;

    // {"EVALSHA", sha1, numkeys, keys..., args...}: what the connection sends.
    std::vector<std::string> evalsha_argv() const;
};

// ---- calls ----

// Redis holds the stream in `distributed` mode; in `nostore` it only assigns ids.
enum class StorageMode { Distributed, NoStore };

struct PublishRequest {
    std::string_view content_type;  // empty: none given
    std::string_view body;
    std::string_view event;      // X-EventSource-Event; empty: none
    core::ChannelLimits limits;  // this publish's (push_* of its location)
    StorageMode mode = StorageMode::Distributed;
    // A member of the channel's Idempotency-Key set (see header_idempotency and
    // retry_idempotency); empty: none.
    std::string idempotency;
    // The latest id time (seconds) the publishing node has seen, any channel: a channel with no
    // last id in Redis (new, or lost with Redis's data) starts after it when it is not in the
    // past, so that ids never go back across a Redis restart. nullopt: none seen.
    std::optional<std::int64_t> id_floor;
};
// The set member for a client's `Idempotency-Key` header (at most 128 bytes: the caller checks).
std::string header_idempotency(std::string_view header_value);
// The worker's own token for re-sending a publish after a lost connection; distinct from every
// header's member, so a client cannot collide with it.
std::string retry_idempotency(std::uint64_t node, std::uint64_t sequence);
ScriptCall publish_call(const Target& target, const PublishRequest& request);

struct FetchRequest {
    std::optional<core::MessageId> since;  // nullopt: from the oldest
    std::uint32_t max_messages = 1;        // >= 1
    std::optional<std::uint64_t> gen;      // the generation the node knows; nullopt: none
    bool may_create = true;                // false: push_authorized_channels_only
    core::ChannelLimits limits;            // the subscriber location's, for a channel it creates
};
ScriptCall fetch_call(const ChannelKeys& keys, const FetchRequest& request);

ScriptCall delete_call(const Target& target);
ScriptCall info_call(const ChannelKeys& keys);

struct CountRequest {
    std::uint64_t node = 0;
    std::uint32_t waiters = 0;  // the node's waiters now; 0 drops its lease
    bool requested = false;     // a subscriber asked since the last count: `req` becomes now
};
ScriptCall count_call(const ChannelKeys& keys, const CountRequest& request);

enum class KickMode {
    Last,   // INCR the kick sequence and PUBLISH a K frame
    First,  // 409 if another node's live lease holds waiters; else take a lease of 1 waiter
};
ScriptCall kick_call(const Target& target, KickMode mode, std::uint64_t node);

struct Receipt {
    core::MessageId id;
    std::uint32_t count = 0;  // deliveries of that message since the last batch
};
ScriptCall receipt_call(const Target& target, const std::vector<Receipt>& receipts);

// ---- replies ----

// Why a reply could not be read: Redis's error text, or what did not match the script's shape.
using ReplyError = std::string;

struct PublishReply {
    core::MessageId id;
    std::uint64_t gen = 0;
    std::uint64_t stored = 0;       // messages in the stream after trimming
    std::uint64_t subscribers = 0;  // waiters in live leases, all nodes
    bool created = false;           // this publish created the channel
    bool duplicate = false;         // a seen idempotency member: id is the first publish's
};
std::variant<PublishReply, ReplyError> parse_publish_reply(const Value& reply);

struct StoredMessage {
    core::MessageId id;
    std::string content_type;
    std::string body;
    std::int64_t expires_at_ms = 0;  // Redis's clock; 0: never
    std::string event;               // X-EventSource-Event; empty: none
};

enum class FetchStatus {
    Ok,
    Gone,       // deleted: the tombstone, or another generation, says so (410)
    Forbidden,  // absent, and the subscriber may not create it (403)
};

struct FetchReply {
    FetchStatus status = FetchStatus::Ok;
    std::uint64_t gen = 0;                  // Ok only
    bool created = false;                   // this fetch created the channel
    std::optional<core::MessageId> newest;  // the last id assigned; nullopt: none yet
    std::vector<StoredMessage> messages;    // oldest first, none expired, at most max_messages
};
std::variant<FetchReply, ReplyError> parse_fetch_reply(const Value& reply);

// Channel info, as Redis sees it (delete returns the one from before).
struct InfoReply {
    bool exists = false;  // false: the rest is zero
    std::uint64_t gen = 0;
    std::uint64_t messages = 0;             // stored, none expired
    std::int64_t requested_ms_ago = -1;     // since a subscriber last asked, by Redis's clock
    std::uint64_t subscribers = 0;          // waiters in live leases, all nodes
    std::optional<core::MessageId> newest;  // the last id assigned
};
std::variant<InfoReply, ReplyError> parse_info_reply(const Value& reply);
std::variant<InfoReply, ReplyError> parse_delete_reply(const Value& reply);

enum class LeaseStatus {
    Ok,
    Absent,    // no such channel (nothing was written)
    Gone,      // no such channel, and a tombstone
    Conflict,  // kick `first`: another node holds waiters (409)
};

struct CountReply {
    LeaseStatus status = LeaseStatus::Ok;
    std::uint64_t subscribers = 0;  // waiters in live leases after the update
};
std::variant<CountReply, ReplyError> parse_count_reply(const Value& reply);

struct KickReply {
    LeaseStatus status = LeaseStatus::Ok;
    std::uint64_t seq = 0;  // `last`: the new kick sequence
};
std::variant<KickReply, ReplyError> parse_kick_reply(const Value& reply);

struct ReceiptReply {
    bool exists = false;
    std::uint64_t trimmed = 0;              // messages the receipts dropped
    std::uint64_t stored = 0;               // messages left
    std::optional<core::MessageId> oldest;  // the oldest left
};
std::variant<ReceiptReply, ReplyError> parse_receipt_reply(const Value& reply);

}  // namespace pushrelay::redis
