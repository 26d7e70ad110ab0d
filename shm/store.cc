#include "shm/store.h"

#include <atomic>
#include <cassert>
#include <utility>

#include "shm/arrival.h"
#include "shm/channel.h"
#include "shm/layout.h"
#include "shm/mailbox.h"
#include "shm/message.h"
#include "shm/pins.h"
#include "shm/repair.h"
#include "shm/segment.h"
#include "shm/sequencing.h"

namespace pushrelay::shm {
namespace {

[[maybe_unused]] bool valid_slot(int slot) {
    return slot >= 0 && slot < kMaxWorkerSlots;
}

std::int64_t expiry_of(const ChannelLimits& limits, std::int64_t now_ms) {
    return limits.message_timeout_ms > 0 ? now_ms + limits.message_timeout_ms : 0;
}

// Whether a waiter may be registered on the channel: Conflict for concurrency `first` when one is
// already held, NoSpace when the slot has no mailbox and none fits. Checked before anything is
// taken, so that a refusal leaves nothing to undo.
Status admit_waiter(Root& root, const Channel& channel, const Store::SubscribeRequest& request) {
    if (request.concurrency == Store::Concurrency::First && channel.waiters_total > 0) {
        return Status::Conflict;
    }
    return ensure_mailbox(root, request.slot) ? Status::Ok : Status::NoSpace;
}

// Registers the caller as a waiter on its slot, kicking earlier ones for concurrency `last`.
// Precondition: admit_waiter() said Ok.
void register_waiter(Root& root, Channel& channel, const Store::SubscribeRequest& request,
                     Store::SubscribeResult& result) {
    if (request.concurrency == Store::Concurrency::Last) {
        // The new waiter's seq is waiter_seq + 1: every waiter registered before it is kicked.
        channel.kick_before_seq = channel.waiter_seq + 1;
        result.kick_slots_mask = post_to_waiting_slots(root, channel, Store::Event::Kick,
                                                       channel.kick_before_seq, nullptr);
    }
    result.waiter_seq = add_waiter(root, channel, request.slot);
    result.held = true;
    result.resume_after = last_id_of(channel);
}

// The part of subscribe() that runs once the channel exists. The caller settles the channel (or
// removes it again if this call created it and ran out of space).
Store::SubscribeResult subscribe_to(Root& root, Channel& channel,
                                    const Store::SubscribeRequest& request) {
    Store::SubscribeResult result{.status = Status::Ok, .uid = channel.uid};
    Message* match = request.wait_for_new ? nullptr
                     : request.since || request.first_message == 1
                         ? find_after(channel, request.since)
                         : find_nth(channel, request.first_message);
    const bool registers = request.persistent || (match == nullptr && request.hold);
    if (registers) {
        result.status = admit_waiter(root, channel, request);
        if (result.status != Status::Ok) {
            return result;
        }
    }
    if (match != nullptr) {
        result.message = take_pin(root, *match, request.slot);
        count_receipts(root, &channel, *match, 1);
    }
    if (registers) {
        register_waiter(root, channel, request, result);
    }
    return result;
}

}  // namespace

std::variant<Store, std::string> Store::open(Segment& segment) {
    Root* root = segment.root();
    if (root == nullptr) {
        return std::string("the segment holds no store (it was moved from)");
    }
    // Read without the lock: the lock's own layout is what may differ.
    if (const std::uint32_t found = root->layout_version; found != kLayoutVersion) {
        return "the segment's store has layout version " + std::to_string(found) +
               ", this build reads version " + std::to_string(kLayoutVersion) +
               " only (was the segment made by another build of pushrelay?)";
    }
    return Store(*root);
}

Store::Store(Store&& other) noexcept : root_(std::exchange(other.root_, nullptr)) {}

Store::SubscribeResult Store::subscribe(const SubscribeRequest& request) noexcept {
    assert(valid_slot(request.slot));
    Root& root = *root_;
    StoreLock guard(root, request.now_ms);
    Channel* channel = find_channel(root, request.key);
    // The module refused an extra subscriber before looking at anything else.
    if (channel != nullptr && request.max_subscribers != 0 &&
        channel->waiters_total >= request.max_subscribers) {
        return SubscribeResult{.status = Status::TooManySubscribers, .uid = channel->uid};
    }
    const bool created = channel == nullptr;
    if (created) {
        if (!request.create_channel) {
            return SubscribeResult{.status = Status::Forbidden};
        }
        if (!request.hold && !request.persistent) {
            return SubscribeResult{};  // nothing to wait on, so nothing to create
        }
        if (root.counters.subscriber_bytes + footprint_of(request.key) > root.subscriber_share) {
            return SubscribeResult{.status = Status::SubscriberShareFull};
        }
        channel = create_channel(root, request.key, request.limits_if_created, request.now_ms,
                                 Creator::Subscriber);
        if (channel == nullptr) {
            return SubscribeResult{.status = Status::NoSpace};
        }
    }
    drop_expired(root, *channel, request.now_ms);
    channel->last_requested_ms = request.now_ms;
    restart_idle_clock(*channel);
    SubscribeResult result = subscribe_to(root, *channel, request);
    if (result.status == Status::NoSpace && created) {
        destroy_channel(root, *channel);
        return SubscribeResult{.status = Status::NoSpace};
    }
    settle(root, *channel, request.now_ms);
    return result;
}

void Store::release_waiters(std::string_view key, std::uint64_t uid, int slot, std::uint32_t n,
                            std::int64_t now_ms) noexcept {
    assert(valid_slot(slot));
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    if (Channel* channel = find_channel(root, key, uid)) {
        remove_waiters(root, *channel, slot, n);
        settle_or_remove(root, *channel, now_ms);
    }
}

void Store::record_delivery(std::string_view key, std::uint64_t uid, int slot,
                            std::uint32_t delivered, std::uint32_t ended, const MessagePin& message,
                            std::int64_t now_ms) noexcept {
    assert(valid_slot(slot) && message && ended <= delivered);
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = find_channel(root, key, uid);
    if (channel != nullptr) {
        remove_waiters(root, *channel, slot, ended);
    }
    count_receipts(root, channel, pinned_message(root, message), delivered);
    if (channel != nullptr) {
        settle_or_remove(root, *channel, now_ms);
    }
}

Store::NextResult Store::find_next(std::string_view key, std::uint64_t uid, core::MessageId since,
                                   std::int64_t now_ms, int slot) noexcept {
    assert(slot == kNoSlot || valid_slot(slot));
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = find_channel(root, key, uid);
    if (channel == nullptr) {
        return NextResult{.status = Status::Gone};
    }
    drop_expired(root, *channel, now_ms);
    settle(root, *channel, now_ms);
    NextResult result{.status = Status::Ok, .kick_before_seq = channel->kick_before_seq};
    if (Message* message = find_after(*channel, since)) {
        result.message = take_pin(root, *message, slot);
    }
    return result;
}

Store::PublishResult Store::publish(std::string_view key, std::string_view content_type,
                                    std::string_view event, std::string_view body,
                                    const ChannelLimits& limits, std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = find_channel(root, key);
    const bool created = channel == nullptr;
    if (created) {
        channel = create_channel(root, key, limits, now_ms, Creator::Publisher);
        if (channel == nullptr) {
            return PublishResult{.status = Status::NoSpace};
        }
    }
    drop_expired(root, *channel, now_ms);
    const Arrival arrival{
        .id = next_message_id(*channel, now_ms),
        .content_type = content_type,
        .event = event,
        .body = body,
        .expires_at_ms = expiry_of(limits, now_ms),
        .store = limits.store_messages,
    };
    Message* message = nullptr;
    if (needs_message(*channel, arrival)) {
        message = allocate_arrival(root, arrival);
        if (message == nullptr) {
            abandon_arrival(root, *channel, created, now_ms);
            return PublishResult{.status = Status::NoSpace};
        }
    }
    PublishResult result{.status = Status::Ok, .uid = channel->uid, .id = arrival.id};
    result.wake_slots_mask = commit_arrival(root, *channel, arrival, limits, message, now_ms);
    ++root.counters.published;
    result.info = info_of(*channel);
    return result;
}

Store::DeleteResult Store::delete_channel(std::string_view key, std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    Channel* channel = find_channel(root, key);
    if (channel == nullptr) {
        return DeleteResult{.status = Status::NotFound};
    }
    drop_expired(root, *channel, now_ms);
    DeleteResult result{.status = Status::Ok, .uid = channel->uid, .info = info_of(*channel)};
    begin_destroying(root, *channel);
    result.wake_slots_mask = post_deleted(root, *channel);
    destroy_channel(root, *channel);
    return result;
}

std::optional<ChannelInfo> Store::info(std::string_view key, std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    const Channel* channel = find_current(root, key, now_ms);
    return channel ? std::optional(info_of(*channel)) : std::nullopt;
}

void Store::expire(std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    // Each pass either removes the first due channel or moves its deadline past now.
    while (!root.deadlines.empty() && root.deadlines.begin()->deadline_ms <= now_ms) {
        Channel& channel = *root.deadlines.begin();
        drop_expired(root, channel, now_ms);
        settle(root, channel, now_ms);
        if (is_idle(channel) && channel.deadline_ms <= now_ms) {
            destroy_channel(root, channel);
        }
    }
}

MessageView Store::view(const MessagePin& pin) const noexcept {
    const Message& message = pinned_message(*root_, pin);
    return MessageView{
        .id = id_of(message),
        .content_type = {message.content_type(), message.content_type_len},
        .event = {message.event(), message.event_len},
        .body = {message.body(), message.body_len},
    };
}

void Store::unpin(MessagePin& pin) noexcept {
    if (!pin) {
        return;
    }
    Root& root = *root_;
    StoreLock guard(root);
    give_back(root, pin);
    pin = {};
}

void Store::drain_mailbox(int slot, std::vector<Event>& out, bool& overflowed) noexcept {
    assert(valid_slot(slot));
    // Outside the lock: growing a vector may allocate (and so must not happen with it held).
    out.reserve(out.size() + kMailboxCapacity);
    Root& root = *root_;
    StoreLock guard(root);
    drain(root, slot, out, overflowed);
}

void Store::reset_slot(int slot, std::int64_t now_ms) noexcept {
    assert(valid_slot(slot));
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    for (auto it = root.channels.begin(); it != root.channels.end();) {
        Channel& channel = *it++;  // advanced first: the channel may be removed
        channel.wanted_mask &= ~(std::uint64_t{1} << slot);
        if (channel.waiters[slot] != 0) {
            remove_waiters(root, channel, slot, channel.waiters[slot]);
            settle_or_remove(root, channel, now_ms);
        }
    }
    clear_mailbox(root, slot);
    root.server.redis_workers_up.fetch_and(~(std::uint64_t{1} << slot), std::memory_order_relaxed);
    if (Mailbox* mailbox = root.mailboxes[slot].get()) {
        give_back_all(root, *mailbox);
    }
    root.server.present[slot] = false;
    root.server.worker_pid[slot] = 0;
    root.server.connections[slot].store(0, std::memory_order_relaxed);
    root.server.accepting[slot].store(false, std::memory_order_relaxed);
    for (auto& held : root.server.held[slot]) held.store(0, std::memory_order_relaxed);
}

bool Store::slot_started(int slot) noexcept {
    assert(valid_slot(slot));
    Root& root = *root_;
    StoreLock guard(root);
    if (root.server.present[slot]) {
        return false;
    }
    root.server.present[slot] = true;
    return true;
}

void Store::set_slot_worker(int slot, std::int32_t pid) noexcept {
    assert(valid_slot(slot));
    Root& root = *root_;
    StoreLock guard(root);
    root.server.worker_pid[slot] = pid;
}

std::optional<std::int32_t> Store::slot_worker(int slot) noexcept {
    assert(valid_slot(slot));
    Root& root = *root_;
    StoreLock guard(root);
    if (!root.server.present[slot]) {
        return std::nullopt;
    }
    return root.server.worker_pid[slot];
}

void Store::set_connections(int slot, std::uint32_t n) noexcept {
    assert(valid_slot(slot));
    root_->server.connections[slot].store(n, std::memory_order_relaxed);
}

void Store::set_held(int slot, core::SubscriberKind kind, std::uint32_t n) noexcept {
    assert(valid_slot(slot));
    root_->server.held[slot][static_cast<std::size_t>(kind)].store(n, std::memory_order_relaxed);
}

void Store::set_accepting(int slot, bool accepting) noexcept {
    assert(valid_slot(slot));
    root_->server.accepting[slot].store(accepting, std::memory_order_relaxed);
}

std::optional<std::uint32_t> Store::fewest_connections_elsewhere(int slot) const noexcept {
    const ServerFigures& server = root_->server;
    std::optional<std::uint32_t> fewest;
    for (int other = 0; other < kMaxWorkerSlots; ++other) {
        if (other == slot || !server.accepting[other].load(std::memory_order_relaxed))
            continue;
        std::uint32_t n = server.connections[other].load(std::memory_order_relaxed);
        if (!fewest || n < *fewest)
            fewest = n;
    }
    return fewest;
}

void Store::set_started_ms(std::int64_t now_ms) noexcept {
    Root& root = *root_;
    StoreLock guard(root, now_ms);
    root.server.started_ms = now_ms;
}

void Store::note_reload() noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    ++root.server.reloads;
}

void Store::count_grip_items(std::uint64_t n) noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    root.counters.grip_items += n;
}

void Store::count_redis(core::RedisCounter counter, std::uint64_t n) noexcept {
    root_->server.redis_counters[static_cast<std::size_t>(counter)].fetch_add(
        n, std::memory_order_relaxed);
}

void Store::set_redis_up(int slot, bool up) noexcept {
    ServerFigures& server = root_->server;
    if (slot == kRelaySlot) {
        server.redis_relay_up.store(up, std::memory_order_relaxed);
        return;
    }
    const std::uint64_t bit = std::uint64_t{1} << slot;
    if (up)
        server.redis_workers_up.fetch_or(bit, std::memory_order_relaxed);
    else
        server.redis_workers_up.fetch_and(~bit, std::memory_order_relaxed);
}

void Store::set_redis_channels(std::uint64_t n) noexcept {
    root_->server.redis_channels.store(n, std::memory_order_relaxed);
}

void Store::note_redis_id_time(std::int64_t seconds) noexcept {
    std::atomic<std::int64_t>& floor = root_->server.redis_id_floor;
    std::int64_t seen = floor.load(std::memory_order_relaxed);
    while (seen < seconds &&
           !floor.compare_exchange_weak(seen, seconds, std::memory_order_relaxed)) {
    }
}

std::int64_t Store::redis_id_floor() const noexcept {
    return root_->server.redis_id_floor.load(std::memory_order_relaxed);
}

void Store::count_grip_rerequest() noexcept {
    root_->server.grip_rerequests.fetch_add(1, std::memory_order_relaxed);
}

void Store::count_grip_origin_error() noexcept {
    root_->server.grip_origin_errors.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// One step on `key`, with Sequencing::lock held by the caller. The record stays valid through
// the step: only a holder of that lock changes records.
Status run_step(Root& root, std::string_view key, const Store::SequenceStep& step) {
    SeqRecord* old = find_record(root, key);
    Store::SequenceUpdate update = step(key, old != nullptr ? old->state() : std::string_view{});
    StoreLock guard(root);
    root.sequencing.duplicates += update.duplicates;
    if (!update.keep) {
        if (old != nullptr)
            remove_record(root, *old);
        return Status::Ok;
    }
    const SeqValue value{update.state, update.wake_at_ms, update.waiting};
    return replace_record(root, old, key, value) ? Status::Ok : Status::NoSpace;
}

}  // namespace

Status Store::sequence(std::string_view key, const SequenceStep& step) {
    Root& root = *root_;
    SeqLock seq(root);
    return run_step(root, key, step);
}

std::size_t Store::sequence_due(std::int64_t due_ms, const SequenceStep& step) {
    Root& root = *root_;
    SeqLock seq(root);
    // The keys first: each step replaces its record, which moves it in the wake index.
    std::vector<std::string> keys;
    for (const SeqRecord& record : root.sequencing.by_wake) {
        if (record.wake_at_ms > due_ms)
            break;
        keys.emplace_back(record.key());
    }
    for (const std::string& key : keys) run_step(root, key, step);
    return keys.size();
}

std::string Store::sequence_state(std::string_view key) {
    Root& root = *root_;
    SeqLock seq(root);
    const SeqRecord* record = find_record(root, key);
    return record != nullptr ? std::string(record->state()) : std::string();
}

std::int64_t Store::next_sequence_wake() const noexcept {
    return root_->sequencing.next_wake_ms.load(std::memory_order_relaxed);
}

std::uint64_t Store::post_reset() noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    ++root.counters.grip_recovers;
    std::uint64_t mask = 0;
    for (int slot = 0; slot < kMaxWorkerSlots; ++slot) {
        if (root.server.present[slot] && post_to_slot(root, slot, {.kind = Event::Reset})) {
            mask |= std::uint64_t{1} << slot;
        }
    }
    return mask;
}

void Store::set_subscriber_share(std::uint64_t bytes) noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    root.subscriber_share = bytes;
}

Store::Stats Store::stats() const noexcept {
    Root& root = *root_;
    StoreLock guard(root);
    const Counters& counters = root.counters;
    const ServerFigures& server = root.server;
    std::uint64_t workers = 0;
    std::uint64_t connections = 0;
    core::SubscriberCounts held{};
    core::RedisFigures redis;
    const std::uint64_t workers_up = server.redis_workers_up.load(std::memory_order_relaxed);
    redis.up = server.redis_relay_up.load(std::memory_order_relaxed);
    redis.channels = server.redis_channels.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < core::kRedisCounters; ++i)
        redis.counters[i] = server.redis_counters[i].load(std::memory_order_relaxed);
    for (int slot = 0; slot < kMaxWorkerSlots; ++slot) {
        if (server.present[slot] && !(workers_up & (std::uint64_t{1} << slot)))
            redis.up = false;
        workers += server.present[slot] ? 1 : 0;
        connections += server.connections[slot].load(std::memory_order_relaxed);
        for (std::size_t kind = 0; kind < core::kSubscriberKinds; ++kind)
            held[kind] += server.held[slot][kind].load(std::memory_order_relaxed);
    }
    return Stats{
        .size = root.manager->get_size() + kHeapOffset,
        .free = root.manager->get_free_memory(),
        .channels = counters.channels,
        .messages = counters.messages,
        .subscribers = counters.subscribers,
        .subscriber_bytes = counters.subscriber_bytes,
        .subscriber_share = root.subscriber_share,
        .published = counters.published,
        .delivered = counters.delivered,
        .grip_items = counters.grip_items,
        .grip_recovers = counters.grip_recovers,
        .grip_rerequests = server.grip_rerequests.load(std::memory_order_relaxed),
        .grip_origin_errors = server.grip_origin_errors.load(std::memory_order_relaxed),
        .sequence_keys = root.sequencing.records,
        .sequence_waiting = root.sequencing.waiting,
        .sequence_duplicates = root.sequencing.duplicates,
        .lock_recoveries = root.lock.recoveries(),
        .workers = workers,
        .connections = connections,
        .held = held,
        .started_ms = server.started_ms,
        .reloads = server.reloads,
        .redis = redis,
    };
}

std::vector<std::string> Store::check() const noexcept {
    try {
        SeqLock seq(*root_);
        StoreLock guard(*root_);
        std::vector<std::string> problems = shm::check(*root_);
        check_sequencing(*root_, problems);
        return problems;
    } catch (const std::bad_alloc&) {
        return {"out of memory while checking the store"};
    }
}

}  // namespace pushrelay::shm
