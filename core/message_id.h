// core/message_id.h — the identity of a message within its channel.
//
// One type for every layer: the store assigns ids (shm/), the wire carries them as
// Last-Modified + Etag (protocol/message_id.h), subscribers resume from them (push/).
#pragma once

#include <compare>
#include <cstdint>

namespace pushrelay::core {

// Orders messages in a channel: by time (seconds since the epoch), then by tag (the position
// among messages stored within the same second).
struct MessageId {
    std::int64_t time = 0;
    std::uint32_t tag = 0;
    auto operator<=>(const MessageId&) const = default;
};

}  // namespace pushrelay::core
