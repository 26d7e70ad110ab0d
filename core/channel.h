// core/channel.h — the vocabulary of channels that every store and the push semantics share.
//
// The outcome of a store operation, a channel's policy (set from the push_* directives) and its
// counts. Plain values: the shared-segment store copies ChannelLimits into the segment, a Redis
// store will send it, push/ fills it from the conf and reads the counts for channel info.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace pushrelay::core {

enum class Status : std::uint8_t {
    Ok,
    NotFound,
    NoSpace,             // the segment is full; nothing was changed
    Forbidden,           // no such channel and the subscriber may not create it
    TooManySubscribers,  // the channel already holds max_subscribers waiters
    Conflict,            // concurrency `first`: a waiter is already held
    Gone,                // the channel was deleted (uid mismatch)
};

// A short English phrase for logs and error bodies. The view is static.
std::string_view describe(Status status) noexcept;

struct ChannelInfo {
    std::uint64_t messages = 0;           // stored in the queue
    std::int64_t last_requested_ms = -1;  // last subscriber request; -1 never
    std::uint64_t subscribers = 0;        // held waiters, all workers
};

// Per-channel policy, set by the most recent publish (or by the subscriber creating the channel).
struct ChannelLimits {
    std::uint32_t min_buffer = 1;               // trimming rules never go below this
    std::uint32_t max_buffer = 10;              // the oldest is dropped beyond this
    std::int64_t message_timeout_ms = 3600000;  // 0: messages never expire
    std::uint32_t min_recipients = 0;           // 0: rule off; else drop the oldest once received
    bool delete_oldest_received = false;        // drop the oldest once received at all
    std::int64_t channel_timeout_ms = 5000;     // an idle channel is removed after this
    bool store_messages = true;                 // false: deliver to held waiters only
};
// Copied by value into the shared segment.
static_assert(std::is_trivially_copyable_v<ChannelLimits>);

}  // namespace pushrelay::core
