#include "shm/repair.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "shm/channel.h"
#include "shm/crash_point.h"
#include "shm/mailbox.h"
#include "shm/message.h"

namespace pushrelay::shm {

CrashHook crash_hook = nullptr;

namespace {

// Calls f(message) once per claim held in the segment's structures: each queued message, each
// pending event's pin and each ledger entry (loose pins are counted in the message itself).
template <typename F>
void for_each_claim(const Root& root, F f) {
    for (Channel* c = root.channel_list.get(); c != nullptr; c = c->next_in_list.get()) {
        for (Message* m = c->oldest.get(); m != nullptr; m = m->next.get()) {
            f(*m);
        }
    }
    for (const auto& box : root.mailboxes) {
        const Mailbox* mailbox = box.get();
        if (mailbox == nullptr) {
            continue;
        }
        for (std::uint32_t i = 0; i < mailbox->count; ++i) {
            if (const MessagePin& pin = mailbox->events[i].message; pin) {
                f(message_at_offset(root, pin.offset));
            }
        }
        for (const std::uint64_t held : mailbox->held) {
            if (held != 0) {
                f(message_at_offset(root, held));
            }
        }
    }
}

void relink_channel_list(Root& root) {
    Channel* prev = nullptr;
    for (Channel* c = root.channel_list.get(); c != nullptr; c = c->next_in_list.get()) {
        c->prev_in_list = prev;
        prev = c;
    }
}

void free_channel(Root& root, Channel& channel) {
    root.intent.channel_step = Intent::None;
    root.intent.channel = nullptr;
    channel.~Channel();
    root.manager->deallocate(&channel);
}

// A channel the dead process had not finished creating is removed if not yet listed (it was
// never seen) and kept if it was; one it was destroying is freed if already unlisted, and
// otherwise returned: its destruction is completed once the store is consistent again.
Channel* settle_channel_intent(Root& root) {
    const Intent::ChannelStep step = root.intent.channel_step;
    Channel* channel = root.intent.channel.get();
    if (step == Intent::None || channel == nullptr) {
        return nullptr;
    }
    if (!is_listed(root, *channel)) {
        free_channel(root, *channel);
        return nullptr;
    }
    if (step == Intent::Destroying) {
        return channel;
    }
    root.intent.channel_step = Intent::None;
    root.intent.channel = nullptr;
    return nullptr;
}

void settle_mailbox_intent(Root& root) {
    Mailbox* mailbox = root.intent.mailbox.get();
    root.intent.mailbox = nullptr;
    if (mailbox == nullptr ||
        std::any_of(std::begin(root.mailboxes), std::end(root.mailboxes),
                    [&](const auto& installed) { return installed.get() == mailbox; })) {
        return;
    }
    root.manager->deallocate(mailbox);
}

void rebuild_channel(Channel& channel) {
    Message* newest = nullptr;
    std::uint64_t count = 0;
    for (Message* m = channel.oldest.get(); m != nullptr; m = m->next.get()) {
        newest = m;
        ++count;
    }
    channel.newest = newest;
    channel.message_count = count;
    channel.straggler_expiry_ms = earliest_straggler_expiry(channel);
    channel.waiters_total = 0;
    for (const std::uint32_t n : channel.waiters) {
        channel.waiters_total += n;
    }
}

// Both indexes are rebuilt from the list rather than trusted: a death in the middle of a
// red-black tree rebalance leaves no way to tell which links are stale. O(n log n).
void rebuild_indexes(Root& root) {
    std::construct_at(&root.channels);
    std::construct_at(&root.deadlines);
    Counters& counters = root.counters;
    counters.channels = counters.messages = counters.subscribers = counters.subscriber_bytes = 0;
    for (Channel* c = root.channel_list.get(); c != nullptr; c = c->next_in_list.get()) {
        rebuild_channel(*c);
        root.channels.insert_unique(*c);
        ++counters.channels;
        counters.messages += c->message_count;
        counters.subscribers += c->waiters_total;
        counters.subscriber_bytes += c->made_by_subscriber ? footprint_of(c->key()) : 0;
        c->deadline_ms = kNoDeadline;
        settle(root, *c, root.last_now_ms);
    }
}

void recount_claims(Root& root) {
    Message* named = root.intent.message.get();
    const auto reset = [](Message& m) { m.refcount = m.loose_pins; };
    for_each_claim(root, reset);
    if (named != nullptr) {
        reset(*named);
    }
    for_each_claim(root, [](Message& m) { ++m.refcount; });
    if (named != nullptr) {
        forget_if_unclaimed(root, *named);
    }
}

}  // namespace

void repair(Root& root) noexcept {
    relink_channel_list(root);
    Channel* doomed = settle_channel_intent(root);
    settle_mailbox_intent(root);
    rebuild_indexes(root);
    recount_claims(root);
    if (doomed != nullptr) {
        // Its Deleted events may have reached only some slots; a second one is ignored.
        post_deleted(root, *doomed);
        destroy_channel(root, *doomed);
    }
}

std::vector<std::string> check(const Root& root) {
    std::vector<std::string> problems;
    const auto name = [](const Channel& c) { return "channel \"" + std::string(c.key()) + "\""; };

    std::unordered_set<const Channel*> listed;
    const Channel* prev = nullptr;
    std::uint64_t messages = 0;
    std::uint64_t subscribers = 0;
    std::uint64_t subscriber_bytes = 0;
    std::size_t with_deadline = 0;
    for (const Channel* c = root.channel_list.get(); c != nullptr; c = c->next_in_list.get()) {
        if (!listed.insert(c).second) {
            problems.push_back("the channel list has a cycle at " + name(*c));
            break;
        }
        if (c->prev_in_list.get() != prev) {
            problems.push_back(name(*c) + ": wrong back link in the channel list");
        }
        prev = c;
        std::uint64_t length = 0;
        const Message* last = nullptr;
        for (const Message* m = c->oldest.get(); m != nullptr && length <= c->message_count;
             m = m->next.get()) {
            last = m;
            ++length;
        }
        if (length != c->message_count || last != c->newest.get()) {
            problems.push_back(name(*c) + ": message_count or newest disagrees with its queue");
        } else if (const std::int64_t earliest = earliest_straggler_expiry(*c);
                   earliest != 0 &&
                   (c->straggler_expiry_ms == 0 || c->straggler_expiry_ms > earliest)) {
            // Walked only once the queue is known to end (a cycle would never stop it).
            problems.push_back(name(*c) +
                               ": straggler_expiry_ms is later than a straggler's expiry");
        }
        std::uint64_t waiting = 0;
        for (const std::uint32_t n : c->waiters) {
            waiting += n;
        }
        if (waiting != c->waiters_total) {
            problems.push_back(name(*c) + ": waiters_total is not the sum of its slots");
        }
        if (c->made_by_subscriber && c->message_count > 0) {
            problems.push_back(name(*c) + ": made by a subscriber, yet holds messages");
        }
        if (c->remote_live && c->made_by_subscriber) {
            problems.push_back(name(*c) + ": live in the Redis cache, yet made by a subscriber");
        }
        for (int slot = 0; slot < kMaxWorkerSlots; ++slot) {
            if ((c->wanted_mask >> slot & 1) != 0 && !root.mailboxes[slot]) {
                problems.push_back(name(*c) + ": wanted by slot " + std::to_string(slot) +
                                   ", which has no mailbox");
            }
        }
        if ((c->idle_since_ms != kNotIdle) != is_idle(*c)) {
            problems.push_back(name(*c) + ": idle_since_ms disagrees with its contents");
        }
        if (c->deadline_ms != next_deadline_of(*c)) {
            problems.push_back(name(*c) + ": stale deadline");
        }
        with_deadline += c->deadline_ms != kNoDeadline ? 1 : 0;
        messages += c->message_count;
        subscribers += c->waiters_total;
        subscriber_bytes += c->made_by_subscriber ? footprint_of(c->key()) : 0;
    }

    std::size_t indexed = 0;
    const Channel* before = nullptr;
    for (const Channel& c : root.channels) {
        if (++indexed > listed.size() || !listed.contains(&c)) {
            problems.push_back("the key index holds a channel that is not listed");
            break;
        }
        if (before != nullptr && !(before->key() < c.key())) {
            problems.push_back("the key index is out of order at " + name(c));
        }
        before = &c;
    }
    if (indexed != listed.size()) {
        problems.push_back("the key index and the channel list differ in length");
    }
    std::size_t due = 0;
    before = nullptr;
    for (const Channel& c : root.deadlines) {
        if (++due > listed.size() || !listed.contains(&c) || c.deadline_ms == kNoDeadline) {
            problems.push_back("the expiry index holds a channel it should not");
            break;
        }
        if (before != nullptr && !ChannelDeadlineLess()(*before, c)) {
            problems.push_back("the expiry index is out of order at " + name(c));
        }
        before = &c;
    }
    if (due != with_deadline) {
        problems.push_back("the expiry index misses channels that have a deadline");
    }

    const Counters& counters = root.counters;
    if (counters.channels != listed.size() || counters.messages != messages ||
        counters.subscribers != subscribers) {
        problems.push_back("the channel, message or subscriber counter is off");
    }
    if (counters.subscriber_bytes != subscriber_bytes) {
        problems.push_back("the subscriber share's byte count is off");
    }

    std::unordered_map<const Message*, std::uint64_t> claims;
    for_each_claim(root, [&](Message& m) { ++claims[&m]; });
    for (const auto& [message, n] : claims) {
        if (message->refcount != n + message->loose_pins) {
            problems.push_back("a message's refcount " + std::to_string(message->refcount) +
                               " is not its " + std::to_string(n + message->loose_pins) +
                               " claims");
        }
    }
    for (const auto& box : root.mailboxes) {
        if (box && box->count > kMailboxCapacity) {
            problems.push_back("a mailbox counts more events than it holds");
        }
    }
    const Intent& intent = root.intent;
    if (intent.channel_step != Intent::None || intent.channel || intent.message || intent.mailbox) {
        problems.push_back("an operation's intent was left behind");
    }
    if (!root.manager->check_sanity()) {
        problems.push_back("the heap fails its own sanity check");
    }
    return problems;
}

StoreLock::StoreLock(Root& root) noexcept : root_(root) {
    if (root_.lock.lock()) {
        repair(root_);
    }
}

StoreLock::StoreLock(Root& root, std::int64_t now_ms) noexcept : root_(root) {
    const bool recovered = root_.lock.lock();
    root_.last_now_ms = std::max(root_.last_now_ms, now_ms);
    if (recovered) {
        repair(root_);
    }
}

StoreLock::~StoreLock() {
    root_.lock.unlock();
}

}  // namespace pushrelay::shm
