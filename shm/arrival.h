// A message's arrival on a channel: the one path that publish() (the store assigns the id) and
// insert_remote() (Redis assigned it) share, so that storing, waking and trimming cannot drift
// apart between the two. Internal to shm/.
//
// Every function here must be called with Root::lock held.
// Crash consistency: that of its parts (new_message(), enqueue(), the posts, the trims), each
// covered by Root::intent or by single stores of truth fields.
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/layout.h"

namespace pushrelay::shm {

struct Arrival {
    core::MessageId id{};
    std::string_view content_type;
    std::string_view event;
    std::string_view body;
    std::int64_t expires_at_ms = 0;  // 0: never
    bool store = true;               // false: delivered to the waiters held now, not kept
};

// Whether the arrival needs a message block: it is stored, or a waiter takes it. An unstored
// message nobody waits for consumes only its id.
bool needs_message(const Channel& channel, const Arrival& arrival) noexcept;

// The block for `arrival`, named in Root::intent (new_message()); nullptr when the segment is
// full, with nothing changed.
Message* allocate_arrival(Root& root, const Arrival& arrival) noexcept;

// Completes the arrival on `channel`: the channel leaves the subscriber share, takes `limits`
// and the arrival's id as its last id; `message` (from allocate_arrival(), or nullptr when
// !needs_message()) is queued if arrival.store and posted as Published{uid, pin} to every slot
// holding waiters; then the queue is trimmed (trim_after_publish()) and the channel settled.
// Returns the slots posted to. Never fails: everything it needs was allocated before.
std::uint64_t commit_arrival(Root& root, Channel& channel, const Arrival& arrival,
                             const ChannelLimits& limits, Message* message,
                             std::int64_t now_ms) noexcept;

// After allocate_arrival() failed: removes the channel if it was created for this arrival,
// else settles it (the caller may have dropped its expired messages), so nothing is left half
// done.
void abandon_arrival(Root& root, Channel& channel, bool created, std::int64_t now_ms) noexcept;

}  // namespace pushrelay::shm
