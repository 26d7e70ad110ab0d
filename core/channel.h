// core/channel.h — the vocabulary of channels that every store and the push semantics share.
//
// The outcome of a store operation, a channel's policy (set from the push_* directives) and its
// counts. Plain values: the shared-segment store copies ChannelLimits into the segment, a Redis
// store will send it, push/ fills it from the conf and reads the counts for channel info.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace pushrelay::core {

// The kinds of subscriber a worker holds, as push_stub_status counts them (interval-polls are
// answered at once and never held). GripResponse and GripStream are the GRIP proxy's holds
// (shared/grip.md), one per channel of a hold as each is a waiter on its channel.
enum class SubscriberKind : std::uint8_t {
    LongPoll,
    EventSource,
    WebSocket,
    Chunked,
    Multipart,
    GripResponse,
    GripStream,
};
inline constexpr std::size_t kSubscriberKinds = 7;
// Held subscribers by kind, indexed by SubscriberKind.
using SubscriberCounts = std::array<std::uint64_t, kSubscriberKinds>;

enum class Status : std::uint8_t {
    Ok,
    NotFound,
    NoSpace,             // the segment is full; nothing was changed
    Forbidden,           // no such channel and the subscriber may not create it
    TooManySubscribers,  // the channel already holds max_subscribers waiters
    Conflict,            // concurrency `first`: a waiter is already held
    Gone,                // the channel was deleted (uid mismatch)
    // A subscriber would create a channel, but the channels subscribers made (and no publisher
    // has published to yet) already take the segment's subscriber share: try again later.
    SubscriberShareFull,
    // Redis mode: the store of record could not be reached within push_redis_command_timeout
    // (or did not say whether a publish was kept); the result's `error` says why.
    Unavailable,
};

// A short English phrase for logs and error bodies. The view is static.
std::string_view describe(Status status) noexcept;

struct ChannelInfo {
    std::uint64_t messages = 0;           // stored in the queue, none of them expired
    std::int64_t last_requested_ms = -1;  // last subscriber request; -1 never
    std::uint64_t subscribers = 0;        // held waiters, all workers
};

// Per-channel policy, set by the most recent publish (or by the subscriber creating the channel).
struct ChannelLimits {
    // Count-based removal (min_recipients, delete_oldest_received, and max_buffer, which conf
    // keeps at least this) never goes below this many messages. Expiry does: an expired message
    // goes however few are left.
    std::uint32_t min_buffer = 1;
    std::uint32_t max_buffer = 10;  // the oldest is dropped beyond this
    // A message expires this long after its publish, whatever min_buffer says; from then on it
    // is never served, found or counted, even before expire() drops it. 0: never.
    std::int64_t message_timeout_ms = 3600000;
    std::uint32_t min_recipients = 0;     // 0: rule off; else drop the oldest once received
    bool delete_oldest_received = false;  // drop the oldest once received at all
    // A channel with no message and no waiter is removed this long after it became so.
    std::int64_t channel_timeout_ms = 5000;
    bool store_messages = true;  // false: deliver to held waiters only
};
// Copied by value into the shared segment.
static_assert(std::is_trivially_copyable_v<ChannelLimits>);

}  // namespace pushrelay::core
