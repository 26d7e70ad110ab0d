// redis/frames.h — the frames the Redis scripts PUBLISH on a channel's pubsub channel `NS:{E}`
// (shared/scale-out.md "Scripts", "Notification path"), and their decoder. The scripts pack them
// with Lua's `struct` (redis/scripts.cc); the byte layout is doc/redis-format.md §2, and this
// header is its C++ reading. Frames are bytes from the network: a malformed one is an error
// value, never a crash or a read out of bounds.
//
// Run by the relay (one per node) for every notification. Pure: no connection, no store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/channel.h"
#include "core/message_id.h"

namespace pushrelay::redis {

// The frame layout's version, kept in the key `NS:v` (doc/redis-format.md §1). A node that finds
// another value there refuses the connection: nodes of two layouts must not share a namespace.
inline constexpr std::string_view kFormatVersion = "2";
std::string version_key(std::string_view ns);

// `M`: a message was published. Ids of "none" (no message before, nothing stored) are nullopt.
struct MessageFrame {
    std::uint64_t gen = 0;                  // the channel's generation
    core::MessageId id;                     // the new message's id
    std::optional<core::MessageId> prev;    // the channel's last id before this one
    std::optional<core::MessageId> oldest;  // the oldest id stored in Redis after trimming
    std::int64_t expires_at_ms = 0;         // Redis's clock; 0: never
    bool stored = false;                    // XADDed: a gap fetch can get it back
    core::ChannelLimits limits;             // the publish's limits (the node's cache keeps them)
    std::string content_type;               // may be empty: none given
    std::string body;                       // any bytes
    std::string event;                      // X-EventSource-Event of the publish; may be empty
};

// `D`: the channel was deleted.
struct DeletedFrame {
    std::uint64_t gen = 0;
};

// `K`: a `last` subscriber kicked every earlier waiter (kick sequence `seq`).
struct KickFrame {
    std::uint64_t gen = 0;
    std::uint64_t seq = 0;
};

// `T`: receipts trimmed the stream; `oldest` is the oldest id left (nullopt: none).
struct TrimmedFrame {
    std::uint64_t gen = 0;
    std::optional<core::MessageId> oldest;
};

using Frame = std::variant<MessageFrame, DeletedFrame, KickFrame, TrimmedFrame>;

// Why a frame could not be read: the kind, and the field or the rule that failed.
using FrameError = std::string;

// Decodes one pubsub message's payload. Rejects an unknown kind, a truncated frame, trailing
// bytes, a tag or an id time out of range, and limits that break their own rules
// (min_buffer > max_buffer, a negative timeout).
std::variant<Frame, FrameError> decode_frame(std::string_view bytes);

}  // namespace pushrelay::redis
