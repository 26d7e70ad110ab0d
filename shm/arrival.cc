#include "shm/arrival.h"

#include "shm/channel.h"
#include "shm/mailbox.h"
#include "shm/message.h"

namespace pushrelay::shm {

bool needs_message(const Channel& channel, const Arrival& arrival) noexcept {
    return arrival.store || channel.waiters_total > 0;
}

Message* allocate_arrival(Root& root, const Arrival& arrival) noexcept {
    return new_message(root, arrival.id, arrival.content_type, arrival.event, arrival.body,
                       arrival.expires_at_ms);
}

std::uint64_t commit_arrival(Root& root, Channel& channel, const Arrival& arrival,
                             const ChannelLimits& limits, Message* message,
                             std::int64_t now_ms) noexcept {
    adopt_channel(root, channel);
    channel.last_time = arrival.id.time;
    channel.last_tag = arrival.id.tag;
    channel.limits = limits;
    std::uint64_t woken = 0;
    if (message != nullptr) {
        if (arrival.store) {
            enqueue(root, channel, *message);
        }
        woken = post_to_waiting_slots(root, channel, Store::Event::Published, 0, message);
        release_new_message(root, *message);
    }
    trim_after_publish(root, channel);
    restart_idle_clock(channel);
    settle(root, channel, now_ms);
    return woken;
}

void abandon_arrival(Root& root, Channel& channel, bool created, std::int64_t now_ms) noexcept {
    if (created) {
        destroy_channel(root, channel);
    } else {
        settle(root, channel, now_ms);
    }
}

}  // namespace pushrelay::shm
