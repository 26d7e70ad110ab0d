#include "shm/channel.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

#include "shm/crash_point.h"
#include "shm/message.h"

namespace pushrelay::shm {
namespace {

// A message's expiry as a sortable time: 0 (never) comes after every time.
std::int64_t expiry_key(std::int64_t expires_at_ms) {
    return expires_at_ms == 0 ? std::numeric_limits<std::int64_t>::max() : expires_at_ms;
}

bool has_expired(const Message& message, std::int64_t now_ms) {
    return message.expires_at_ms != 0 && message.expires_at_ms <= now_ms;
}

// Unlinks `message`, whose predecessor in the queue is `prev` (nullptr: it is the oldest), and
// gives up the queue's claim on it. The chain is committed by one store (`oldest`, or prev's
// `next`); the rest follows and is rebuilt by repair().
void drop_message(Root& root, Channel& channel, Message* prev, Message& message) {
    drop_claim(root, message, [&] {
        (prev != nullptr ? prev->next : channel.oldest) = message.next;
        crash_point();
        if (channel.newest.get() == &message) {
            channel.newest = prev;
        }
        --channel.message_count;
        --root.counters.messages;
    });
}

void drop_oldest(Root& root, Channel& channel) {
    drop_message(root, channel, nullptr, *channel.oldest);
}

void drop_oldest_while_received(Root& root, Channel& channel, std::uint32_t times) {
    while (channel.message_count > channel.limits.min_buffer && channel.oldest->received >= times) {
        drop_oldest(root, channel);
    }
}

// Keeps straggler_expiry_ms a lower bound as `message` joins the queue. While the queue expires in
// order (bound 0) the newest message expires last, so comparing with it is exact; once it does
// not, a new message only lowers the bound to its own expiry: cheaper than finding out whether it
// is a straggler, and a bound too low costs no more than one early walk (which makes it exact).
void note_straggler(Channel& channel, const Message& message) {
    std::int64_t& bound = channel.straggler_expiry_ms;
    if (channel.message_count == 0) {
        bound = 0;
    }
    const std::int64_t expiry = message.expires_at_ms;
    if (expiry == 0) {
        return;  // never expires, so never expires before an older message
    }
    if (bound != 0) {
        bound = std::min(bound, expiry);
    } else if (channel.message_count > 0 && expiry < expiry_key(channel.newest->expires_at_ms)) {
        bound = expiry;
    }
}

// Drops every expired message wherever it is in the queue. O(queue length) is fine here: only a
// channel published to with different push_message_timeouts has stragglers, the walk runs only
// once one may have expired, and it leaves the bound exact, so the next walk waits for the next
// straggler's expiry.
void drop_expired_stragglers(Root& root, Channel& channel, std::int64_t now_ms) {
    Message* prev = nullptr;
    for (Message* message = channel.oldest.get(); message != nullptr;) {
        Message* next = message->next.get();  // read first: the drop may free the message
        if (has_expired(*message, now_ms)) {
            drop_message(root, channel, prev, *message);
        } else {
            prev = message;
        }
        message = next;
    }
    channel.straggler_expiry_ms = earliest_straggler_expiry(channel);
}

std::int64_t next_deadline(const Channel& channel) {
    // push_message_timeout beats push_min_message_buffer_length: any stored message that expires
    // gives the channel a deadline. The earliest expiry in the queue is the oldest message's or a
    // straggler's (any other expires no sooner than the oldest).
    if (channel.message_count > 0) {
        const std::int64_t soonest = std::min(expiry_key(channel.oldest->expires_at_ms),
                                              expiry_key(channel.straggler_expiry_ms));
        return soonest == expiry_key(0) ? kNoDeadline : soonest;
    }
    if (channel.waiters_total > 0) {
        return kNoDeadline;
    }
    if (channel.made_by_subscriber) {
        return channel.idle_since_ms;  // nothing keeps it: due at once (see channel.h)
    }
    return channel.idle_since_ms + std::max<std::int64_t>(channel.limits.channel_timeout_ms, 0);
}

void unindex(Root& root, Channel& channel) {
    if (channel.deadline_ms != kNoDeadline) {
        root.deadlines.erase(root.deadlines.iterator_to(channel));
        crash_point();
        channel.deadline_ms = kNoDeadline;
    }
}

// The list is committed by one store (the head, or the predecessor's next); the back links
// follow and are rebuilt by repair().
void link_channel(Root& root, Channel& channel) {
    channel.next_in_list = root.channel_list;
    channel.prev_in_list = nullptr;
    root.channel_list = &channel;
    crash_point();
    if (channel.next_in_list) {
        channel.next_in_list->prev_in_list = &channel;
    }
}

void unlink_channel(Root& root, Channel& channel) {
    Channel* prev = channel.prev_in_list.get();
    Channel* next = channel.next_in_list.get();
    (prev != nullptr ? prev->next_in_list : root.channel_list) = next;
    crash_point();
    if (next != nullptr) {
        next->prev_in_list = prev;
    }
}

void forget_channel_intent(Root& root) {
    root.intent.channel_step = Intent::None;
    root.intent.channel = nullptr;
}

}  // namespace

Channel* create_channel(Root& root, std::string_view key, const ChannelLimits& limits,
                        std::int64_t now_ms, Creator creator) noexcept {
    void* memory = root.manager->allocate(sizeof(Channel) + key.size(), std::nothrow);
    if (memory == nullptr) {
        return nullptr;
    }
    auto* channel = new (memory) Channel();
    channel->uid = root.next_uid++;
    channel->deadline_ms = kNoDeadline;
    channel->idle_since_ms = kNotIdle;
    channel->last_requested_ms = -1;
    channel->last_time = -1;
    channel->key_len = static_cast<std::uint32_t>(key.size());
    channel->limits = limits;
    channel->made_by_subscriber = creator == Creator::Subscriber;
    if (!key.empty()) {
        std::memcpy(reinterpret_cast<char*>(channel + 1), key.data(), key.size());
    }
    root.intent.channel = channel;
    root.intent.channel_step = Intent::Creating;
    crash_point();
    link_channel(root, *channel);
    crash_point();
    root.channels.insert_unique(*channel);
    crash_point();
    ++root.counters.channels;
    if (channel->made_by_subscriber) {
        root.counters.subscriber_bytes += footprint_of(key);
    }
    settle(root, *channel, now_ms);
    forget_channel_intent(root);
    return channel;
}

void begin_destroying(Root& root, Channel& channel) noexcept {
    root.intent.channel = &channel;
    root.intent.channel_step = Intent::Destroying;
    crash_point();
}

void destroy_channel(Root& root, Channel& channel) noexcept {
    begin_destroying(root, channel);
    while (channel.message_count > 0) {
        drop_oldest(root, channel);
    }
    root.counters.subscribers -= channel.waiters_total;
    unindex(root, channel);
    root.channels.erase(root.channels.iterator_to(channel));
    crash_point();
    unlink_channel(root, channel);
    crash_point();
    --root.counters.channels;
    if (channel.made_by_subscriber) {
        root.counters.subscriber_bytes -= footprint_of(channel.key());
    }
    // Forgotten before the block goes, like a message (see forget_if_unclaimed()).
    forget_channel_intent(root);
    channel.~Channel();
    root.manager->deallocate(&channel);
}

std::uint64_t footprint_of(std::string_view key) noexcept {
    return sizeof(Channel) + key.size();
}

void adopt_channel(Root& root, Channel& channel) noexcept {
    if (!channel.made_by_subscriber) {
        return;
    }
    channel.made_by_subscriber = false;
    crash_point();
    root.counters.subscriber_bytes -= footprint_of(channel.key());
}

bool is_listed(const Root& root, const Channel& channel) noexcept {
    for (const Channel* c = root.channel_list.get(); c != nullptr; c = c->next_in_list.get()) {
        if (c == &channel) {
            return true;
        }
    }
    return false;
}

Channel* find_channel(Root& root, std::string_view key) noexcept {
    auto it = root.channels.find(key, ChannelKeyLess());
    return it == root.channels.end() ? nullptr : &*it;
}

Channel* find_channel(Root& root, std::string_view key, std::uint64_t uid) noexcept {
    Channel* channel = find_channel(root, key);
    return channel != nullptr && channel->uid == uid ? channel : nullptr;
}

core::MessageId last_id_of(const Channel& channel) noexcept {
    return core::MessageId{channel.last_time, channel.last_tag};
}

core::MessageId next_message_id(const Channel& channel, std::int64_t now_ms) noexcept {
    const std::int64_t time = std::max(now_ms / 1000, channel.last_time);
    return core::MessageId{time, time == channel.last_time ? channel.last_tag + 1 : 0};
}

void enqueue(Root& root, Channel& channel, Message& message) noexcept {
    note_straggler(channel, message);
    ++message.refcount;
    crash_point();
    if (channel.newest) {
        channel.newest->next = &message;
    } else {
        channel.oldest = &message;
    }
    crash_point();
    channel.newest = &message;
    ++channel.message_count;
    ++root.counters.messages;
}

Message* find_after(const Channel& channel, const std::optional<core::MessageId>& since) noexcept {
    if (!since)
        return channel.oldest.get();
    // The common poll is from a subscriber that has everything: answer it
    // without walking the queue (which is done under the lock).
    const Message* newest = channel.newest.get();
    if (newest == nullptr || id_of(*newest) <= *since)
        return nullptr;
    for (Message* message = channel.oldest.get(); message != nullptr;
         message = message->next.get()) {
        if (id_of(*message) > *since)
            return message;
    }
    return nullptr;
}

Message* find_nth(const Channel& channel, std::int32_t n) noexcept {
    const std::uint64_t count = channel.message_count;
    const std::uint64_t want = n < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(n))
                                     : static_cast<std::uint64_t>(n);
    std::uint64_t position = 1;  // 1-based from the oldest
    if (want >= 1 && want <= count)
        position = n > 0 ? want : count - want + 1;
    Message* message = channel.oldest.get();
    for (std::uint64_t i = 1; i < position && message != nullptr; ++i)
        message = message->next.get();
    return message;
}

void trim_after_publish(Root& root, Channel& channel) noexcept {
    while (channel.message_count > channel.limits.max_buffer) {
        drop_oldest(root, channel);
    }
    if (channel.limits.min_recipients > 0) {
        drop_oldest_while_received(root, channel, channel.limits.min_recipients);
    }
}

void drop_before(Root& root, Channel& channel,
                 const std::optional<core::MessageId>& oldest_kept) noexcept {
    while (channel.message_count > 0 && (!oldest_kept || id_of(*channel.oldest) < *oldest_kept)) {
        drop_oldest(root, channel);
    }
}

std::int64_t next_deadline_of(const Channel& channel) noexcept {
    return next_deadline(channel);
}

void drop_expired(Root& root, Channel& channel, std::int64_t now_ms) noexcept {
    while (channel.message_count > 0 && has_expired(*channel.oldest, now_ms)) {
        drop_oldest(root, channel);
    }
    const std::int64_t bound = channel.straggler_expiry_ms;
    if (channel.message_count > 0 && bound != 0 && bound <= now_ms) {
        drop_expired_stragglers(root, channel, now_ms);
    }
}

std::int64_t earliest_straggler_expiry(const Channel& channel) noexcept {
    std::int64_t latest = std::numeric_limits<std::int64_t>::min();  // of the older messages
    std::int64_t earliest = 0;
    for (const Message* message = channel.oldest.get(); message != nullptr;
         message = message->next.get()) {
        const std::int64_t expiry = expiry_key(message->expires_at_ms);
        if (expiry < latest && (earliest == 0 || expiry < earliest)) {
            earliest = expiry;  // below an older one's, so not "never"
        }
        latest = std::max(latest, expiry);
    }
    return earliest;
}

void count_receipts(Root& root, Channel* channel, Message& message, std::uint32_t n) noexcept {
    constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();
    message.received = message.received > kMax - n ? kMax : message.received + n;
    root.counters.delivered += n;
    if (channel != nullptr && channel->limits.delete_oldest_received &&
        channel->message_count > channel->limits.min_buffer && channel->oldest->received > 0) {
        drop_oldest(root, *channel);
    }
}

std::uint64_t add_waiter(Root& root, Channel& channel, int slot) noexcept {
    ++channel.waiters[slot];
    crash_point();
    ++channel.waiters_total;
    ++root.counters.subscribers;
    return ++channel.waiter_seq;
}

void remove_waiters(Root& root, Channel& channel, int slot, std::uint32_t n) noexcept {
    const std::uint32_t removed = std::min(n, channel.waiters[slot]);
    channel.waiters[slot] -= removed;
    crash_point();
    channel.waiters_total -= removed;
    root.counters.subscribers -= removed;
}

void restart_idle_clock(Channel& channel) noexcept {
    channel.idle_since_ms = kNotIdle;
}

void settle(Root& root, Channel& channel, std::int64_t now_ms) noexcept {
    if (!is_idle(channel)) {
        channel.idle_since_ms = kNotIdle;
    } else if (channel.idle_since_ms == kNotIdle) {
        channel.idle_since_ms = now_ms;
    }
    const std::int64_t deadline = next_deadline(channel);
    if (deadline == channel.deadline_ms) {
        return;
    }
    unindex(root, channel);
    channel.deadline_ms = deadline;
    if (deadline != kNoDeadline) {
        root.deadlines.insert_unique(channel);
        crash_point();
    }
}

Channel* find_current(Root& root, std::string_view key, std::int64_t now_ms) noexcept {
    Channel* channel = find_channel(root, key);
    if (channel != nullptr) {
        drop_expired(root, *channel, now_ms);
        settle(root, *channel, now_ms);
    }
    return channel;
}

bool settle_or_remove(Root& root, Channel& channel, std::int64_t now_ms) noexcept {
    if (channel.made_by_subscriber && channel.waiters_total == 0) {
        destroy_channel(root, channel);
        return false;
    }
    settle(root, channel, now_ms);
    return true;
}

bool is_idle(const Channel& channel) noexcept {
    return channel.message_count == 0 && channel.waiters_total == 0;
}

ChannelInfo info_of(const Channel& channel) noexcept {
    return ChannelInfo{channel.message_count, channel.last_requested_ms, channel.waiters_total};
}

}  // namespace pushrelay::shm
