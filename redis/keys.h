// redis/keys.h — the Redis key layout of one channel (shared/scale-out.md "Keys"): every key of a
// channel carries the hash tag {E}, E being the channel key (group/id) escaped so that it holds
// no brace, so that all of a channel's keys live in one Cluster slot.
//
// Pure: no connection, no I/O.
#pragma once

#include <string>
#include <string_view>

namespace pushrelay::redis {

// The channel key with '%', '{' and '}' percent-escaped (%25, %7B, %7D): bijective, and the result
// has no brace, so "{E}" is a hash tag covering exactly E.
std::string escape_channel_key(std::string_view key);

// The names of one channel's keys under the namespace `ns` (push_redis_namespace).
struct ChannelKeys {
    std::string channel;      // NS:{E}:c   hash: gen, last id, limits, leases
    std::string messages;     // NS:{E}:m   stream: one entry per stored message
    std::string receipts;     // NS:{E}:r   hash: entry id -> receipts
    std::string idempotency;  // NS:{E}:i   zset: Idempotency-Key -> id
    std::string tombstone;    // NS:{E}:x   string: the gen of a deleted channel
    std::string pubsub;       // NS:{E}     the channel's frames
};
ChannelKeys channel_keys(std::string_view ns, std::string_view key);

// NS:run: the random id a connection SETs NX, to tell a Redis that lost its data.
std::string run_key(std::string_view ns);

// The Cluster slot of `key` (CRC16 of its hash tag, or of the whole key without one), 0..16383.
unsigned cluster_slot(std::string_view key);

}  // namespace pushrelay::redis
