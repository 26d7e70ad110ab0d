// Redis mode's cache: the Store members of store.h's "Redis mode's cache" section.
#include <cassert>
#include <string>
#include <vector>

#include "shm/arrival.h"
#include "shm/channel.h"
#include "shm/crash_point.h"
#include "shm/layout.h"
#include "shm/mailbox.h"
#include "shm/repair.h"
#include "shm/store.h"

namespace pushrelay::shm {
namespace {

std::uint64_t bit_of(int slot) {
    return std::uint64_t{1} << slot;
}

// The relay's cache entry for `key`: found, or created outside the subscriber share, and no
// longer made_by_subscriber either way. nullptr when the segment cannot take it.
Channel* cache_entry(Root& root, std::string_view key, const ChannelLimits& limits_if_created,
                     std::int64_t now_ms) {
    Channel* channel = find_channel(root, key);
    if (channel == nullptr) {
        return create_channel(root, key, limits_if_created, now_ms, Creator::Publisher);
    }
    adopt_channel(root, *channel);
    return channel;
}

// Frees room for an insert_remote() by emptying the queues of channels no waiter here needs,
// the oldest-created first (the channel list's tail), one channel per evict_next(). The list is
// walked once per allocation (an insert makes two at most), so running out of space costs
// O(channels), however many channels go. Allocation attempts between two evictions leave the
// list as it is.
class CacheEvictor {
  public:
    CacheEvictor(Root& root, const Channel* keep, std::int64_t now_ms)
        : root_(root), keep_(keep), now_ms_(now_ms) {}

    // Empties one more channel's queue; false when no channel is left to evict from.
    bool evict_next() noexcept {
        if (!started_) {
            started_ = true;
            for (Channel* c = root_.channel_list.get(); c != nullptr; c = c->next_in_list.get()) {
                cursor_ = c;
            }
        }
        while (cursor_ != nullptr) {
            Channel& channel = *cursor_;
            cursor_ = channel.prev_in_list.get();
            if (&channel != keep_ && channel.waiters_total == 0 && channel.message_count > 0) {
                evict(channel);
                return true;
            }
        }
        return false;
    }

  private:
    void evict(Channel& channel) {
        // Not live before the first drop: a death midway must not leave a gap in a live cache.
        channel.remote_live = false;
        crash_point();
        drop_before(root_, channel, std::nullopt);
        settle(root_, channel, now_ms_);
    }

    Root& root_;
    const Channel* keep_;
    std::int64_t now_ms_;
    bool started_ = false;
    Channel* cursor_ = nullptr;  // the next channel to look at, walking towards the newest
};

// Calls `allocate` until it returns a block or nothing is left to evict.
template <typename Allocate>
auto allocate_evicting(Root& root, const Channel* keep, std::int64_t now_ms, Allocate allocate) {
    auto* block = allocate();
    CacheEvictor evictor(root, keep, now_ms);
    while (block == nullptr && evictor.evict_next()) {
        block = allocate();
    }
    return block;
}

Store::RemoteState state_of(const Channel& channel) {
    Store::RemoteState state{
        .uid = channel.uid,
        .gen = channel.remote_gen,
        .live = channel.remote_live,
        .newest = std::nullopt,
        .waiters_total = static_cast<std::uint32_t>(channel.waiters_total),
        .last_requested_ms = channel.last_requested_ms,
        .messages = channel.message_count,
    };
    if (channel.last_time >= 0) {
        state.newest = last_id_of(channel);
    }
    return state;
}

Store::InsertResult insert(Root& root, const Store::RemoteMessage& m, std::int64_t now_ms) {
    using Result = Store::InsertResult;
    using Status = Store::InsertStatus;
    Channel* channel = find_channel(root, m.key);
    if (channel != nullptr && channel->remote_gen != 0 && channel->remote_gen != m.gen) {
        return Result{.status = Status::StaleGen, .uid = channel->uid};
    }
    if (channel != nullptr && m.id <= last_id_of(*channel)) {
        return Result{.status = Status::Duplicate, .uid = channel->uid};
    }
    const bool created = channel == nullptr;
    if (created) {
        channel = allocate_evicting(root, nullptr, now_ms, [&] {
            return create_channel(root, m.key, m.limits, now_ms, Creator::Publisher);
        });
        if (channel == nullptr) {
            return Result{.status = Status::NoSpace};
        }
    }
    drop_expired(root, *channel, now_ms);
    const Arrival arrival{
        .id = m.id,
        .content_type = m.content_type,
        .event = m.event,
        .body = m.body,
        .expires_at_ms = m.ttl_ms > 0 ? now_ms + m.ttl_ms : 0,
        .store = m.store,
    };
    Message* message = nullptr;
    if (needs_message(*channel, arrival)) {
        message = allocate_evicting(root, channel, now_ms,
                                    [&] { return allocate_arrival(root, arrival); });
        if (message == nullptr) {
            abandon_arrival(root, *channel, created, now_ms);
            return Result{.status = Status::NoSpace};
        }
    }
    channel->remote_gen = m.gen;
    Result result{.status = Status::Inserted, .uid = channel->uid};
    result.wake_slots_mask = commit_arrival(root, *channel, arrival, m.limits, message, now_ms);
    if (m.oldest_kept) {
        drop_before(root, *channel, m.oldest_kept);
        settle(root, *channel, now_ms);
    }
    return result;
}

// Visits a copy of every channel's state, a batch per lock round, so that no allocation happens
// under the lock and the visitor runs outside it.
class RemoteWalk {
  public:
    using Visit = std::function<void(const Store::RemoteState&, std::string_view key)>;

    explicit RemoteWalk(Root& root) : root_(root) {
        states_.reserve(kBatch);
        key_ends_.reserve(kBatch);
        keys_.reserve(kBatchKeyBytes);
    }

    void run(const Visit& visit) {
        bool more = true;
        while (more) {
            more = copy_batch();
            std::size_t begin = 0;
            std::string_view key;
            for (std::size_t i = 0; i < states_.size(); ++i) {
                key = std::string_view(keys_).substr(begin, key_ends_[i] - begin);
                visit(states_[i], key);
                begin = key_ends_[i];
            }
            if (!states_.empty()) {
                after_.assign(key);
                have_after_ = true;
            }
            if (long_key_ > keys_.capacity()) {
                keys_.reserve(long_key_);
            }
        }
    }

  private:
    static constexpr std::size_t kBatch = 256;
    static constexpr std::size_t kBatchKeyBytes = 64 << 10;

    // Copies the next channels after after_ (every one at the start) while the reserved room
    // lasts. Returns whether channels are left after the batch.
    bool copy_batch() {
        states_.clear();
        key_ends_.clear();
        keys_.clear();
        long_key_ = 0;
        StoreLock guard(root_);
        auto it = have_after_ ? root_.channels.upper_bound(after_, ChannelKeyLess())
                              : root_.channels.begin();
        for (; it != root_.channels.end(); ++it) {
            const std::string_view key = it->key();
            if (states_.size() == kBatch || keys_.size() + key.size() > keys_.capacity()) {
                long_key_ = key.size();  // a key no batch could take makes the next one grow
                return true;
            }
            states_.push_back(state_of(*it));
            keys_.append(key);
            key_ends_.push_back(keys_.size());
        }
        return false;
    }

    Root& root_;
    std::vector<Store::RemoteState> states_;
    std::vector<std::size_t> key_ends_;  // keys_ holds the batch's keys end to end
    std::string keys_;
    std::string after_;  // the last key visited, once have_after_
    bool have_after_ = false;
    std::size_t long_key_ = 0;
};

}  // namespace

Store::WantResult Store::want_remote(std::string_view key, int slot,
                                     const ChannelLimits& limits_if_created,
                                     std::int64_t now_ms) noexcept {
    assert(slot >= 0 && slot < kMaxWorkerSlots);
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = find_channel(root, key);
    if (channel != nullptr && channel->remote_live) {
        return WantResult{.status = Status::Ok, .uid = channel->uid, .live = true};
    }
    const bool created = channel == nullptr;
    channel = cache_entry(root, key, limits_if_created, now_ms);
    if (channel == nullptr) {
        return WantResult{.status = Status::NoSpace};
    }
    if (!ensure_mailbox(root, slot)) {
        abandon_arrival(root, *channel, created, now_ms);
        return WantResult{.status = Status::NoSpace};
    }
    channel->last_requested_ms = now_ms;
    restart_idle_clock(*channel);
    const bool first = channel->wanted_mask == 0;
    channel->wanted_mask |= bit_of(slot);
    settle(root, *channel, now_ms);
    return WantResult{.status = Status::Ok, .uid = channel->uid, .first = first};
}

std::uint64_t Store::set_remote_live(std::string_view key, std::uint64_t gen,
                                     std::optional<core::MessageId> newest,
                                     const ChannelLimits& limits, std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = cache_entry(root, key, limits, now_ms);
    if (channel == nullptr) {
        return 0;
    }
    drop_expired(root, *channel, now_ms);
    channel->limits = limits;
    channel->remote_gen = gen;
    if (newest && *newest > last_id_of(*channel)) {
        channel->last_time = newest->time;
        channel->last_tag = newest->tag;
    }
    channel->remote_live = true;
    crash_point();
    // Posted before the wants are cleared: a death in between posts again on the relay's retry
    // rather than losing a Live.
    const Event live{.kind = Event::Live, .uid = channel->uid};
    const std::uint64_t posted = post_to_slots(root, channel->wanted_mask, live);
    channel->wanted_mask = 0;
    restart_idle_clock(*channel);
    settle(root, *channel, now_ms);
    return posted;
}

Store::InsertResult Store::insert_remote(const RemoteMessage& m, std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    return insert(root, m, now_ms);
}

void Store::trim_remote(std::string_view key, std::uint64_t gen,
                        std::optional<core::MessageId> oldest_kept, std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = find_channel(root, key);
    if (channel == nullptr || channel->remote_gen != gen) {
        return;
    }
    drop_before(root, *channel, oldest_kept);
    settle(root, *channel, now_ms);
}

std::optional<Store::RemoteState> Store::remote_state(std::string_view key,
                                                      std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    const Channel* channel = find_current(root, key, now_ms);
    return channel ? std::optional(state_of(*channel)) : std::nullopt;
}

void Store::visit_remote(
    const std::function<void(const RemoteState&, std::string_view key)>& visit) noexcept {
    RemoteWalk(*root_).run(visit);
}

void Store::set_remote_not_live(std::string_view key) noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    if (Channel* channel = find_channel(root, key)) {
        channel->remote_live = false;
    }
}

std::uint64_t Store::kick_remote(std::string_view key) noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    Channel* channel = find_channel(root, key);
    if (!channel || channel->waiters_total == 0)
        return 0;
    channel->kick_before_seq = channel->waiter_seq + 1;
    return post_to_waiting_slots(root, *channel, Store::Event::Kick, channel->kick_before_seq,
                                 nullptr);
}

}  // namespace pushrelay::shm
