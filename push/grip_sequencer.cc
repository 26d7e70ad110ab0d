#include "push/grip_sequencer.h"

#include <algorithm>
#include <cstdint>

namespace pushrelay::push {

GripSequencer::Outcome GripSequencer::submit(const std::string& key, grip::Item item,
                                             const core::ChannelLimits& limits, Timing timing,
                                             std::int64_t now_ms) {
    Channel& channel = channels_[key];
    channel.forget_at_ms = std::max(channel.forget_at_ms, now_ms + kForgetAfterMs);
    channel.id_cache_ttl_ms = timing.id_cache_ttl_ms;
    if (item.id) {
        auto seen = channel.seen_until.find(*item.id);
        if (seen != channel.seen_until.end() && seen->second > now_ms)
            return Outcome::Dropped;  // a publisher's retry
    }
    const bool in_order =
        item.no_seq || !item.prev_id || !channel.last_id || *item.prev_id == *channel.last_id;
    if (in_order)
        return send(key, channel, item, limits, now_ms) > 0 ? Outcome::Sent : Outcome::NoSpace;
    // O(kMaxWaiting) scan: the list is bounded at 100.
    const bool same_prev =
        std::any_of(channel.waiting.begin(), channel.waiting.end(),
                    [&](const Waiting& w) { return w.item.prev_id == item.prev_id; });
    if (same_prev || channel.waiting.size() >= kMaxWaiting)
        return Outcome::Dropped;
    // Its id is remembered now, so a retry while it waits is dropped too.
    remember(channel, item, now_ms);
    channel.waiting.push_back({std::move(item), limits, now_ms + timing.message_wait_ms});
    return Outcome::Waiting;
}

std::size_t GripSequencer::send(const std::string& key, Channel& channel, const grip::Item& item,
                                const core::ChannelLimits& limits, std::int64_t now_ms) {
    if (!emit_(key, item, limits))
        return 0;
    record(channel, item, now_ms);
    std::size_t sent = 1;
    // Each item that went out may release the one waiting on its id, which may release the next.
    std::optional<std::string> released = item.no_seq ? std::nullopt : item.id;
    while (released) {
        auto next = std::find_if(channel.waiting.begin(), channel.waiting.end(),
                                 [&](const Waiting& w) { return w.item.prev_id == released; });
        if (next == channel.waiting.end())
            break;
        Waiting waiting = std::move(*next);
        channel.waiting.erase(next);
        // A refused release is lost like one at its deadline would be: the segment is full and
        // the publisher was already answered 200 (doc/decisions.md).
        if (!emit_(key, waiting.item, waiting.limits))
            break;
        record(channel, waiting.item, now_ms);
        ++sent;
        released = waiting.item.no_seq ? std::nullopt : waiting.item.id;
    }
    return sent;
}

void GripSequencer::remember(Channel& channel, const grip::Item& item, std::int64_t now_ms) {
    if (!item.id || channel.id_cache_ttl_ms <= 0)
        return;
    const std::int64_t until = now_ms + channel.id_cache_ttl_ms;
    channel.seen_until[*item.id] = until;
    channel.forget_at_ms = std::max(channel.forget_at_ms, until);
}

void GripSequencer::record(Channel& channel, const grip::Item& item, std::int64_t now_ms) {
    remember(channel, item, now_ms);
    if (!item.no_seq)
        channel.last_id = item.id;  // an item without id unsets L
}

bool GripSequencer::idle(const Channel& channel, std::int64_t now_ms) {
    return channel.waiting.empty() && now_ms >= channel.forget_at_ms;
}

std::size_t GripSequencer::release_due(const std::string& key, Channel& channel,
                                       std::int64_t due_ms, std::int64_t now_ms) {
    std::size_t sent = 0;
    // Deadlines are in arrival order (one message_wait per server); a release may remove later
    // entries, so the front is looked at afresh each time.
    while (!channel.waiting.empty() && channel.waiting.front().deadline_ms <= due_ms) {
        Waiting waiting = std::move(channel.waiting.front());
        channel.waiting.pop_front();
        sent += send(key, channel, waiting.item, waiting.limits, now_ms);
    }
    return sent;
}

std::size_t GripSequencer::flush(std::int64_t now_ms) {
    std::size_t sent = 0;
    for (auto& [key, channel] : channels_) sent += release_due(key, channel, INT64_MAX, now_ms);
    return sent;
}

std::size_t GripSequencer::tick(std::int64_t now_ms) {
    std::size_t sent = 0;
    // O(channels + remembered ids): tick runs when a deadline passes, not per publish.
    for (auto it = channels_.begin(); it != channels_.end();) {
        Channel& channel = it->second;
        sent += release_due(it->first, channel, now_ms, now_ms);
        std::erase_if(channel.seen_until, [&](const auto& seen) { return seen.second <= now_ms; });
        it = idle(channel, now_ms) ? channels_.erase(it) : std::next(it);
    }
    return sent;
}

void GripSequencer::recover() {
    for (auto& [key, channel] : channels_) channel.last_id.reset();
}

std::optional<std::int64_t> GripSequencer::next_deadline() const {
    std::optional<std::int64_t> earliest;
    auto consider = [&](std::int64_t at) {
        if (!earliest || at < *earliest)
            earliest = at;
    };
    // O(channels); the caller re-arms its timer after each publish, and a channel's state goes
    // a minute after its last publish, so this stays small per worker.
    for (const auto& [key, channel] : channels_)
        consider(channel.waiting.empty() ? channel.forget_at_ms
                                         : channel.waiting.front().deadline_ms);
    return earliest;
}

}  // namespace pushrelay::push
