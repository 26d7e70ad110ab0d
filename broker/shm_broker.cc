#include "broker/shm_broker.h"

#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace pushrelay::broker {
namespace {

shm::Store::Concurrency to_store(Concurrency c) {
    switch (c) {
        case Concurrency::First:
            return shm::Store::Concurrency::First;
        case Concurrency::Last:
            return shm::Store::Concurrency::Last;
        case Concurrency::Broadcast:
            break;
    }
    return shm::Store::Concurrency::Broadcast;
}

// The store's step, running the broker's: the same fields under the store's names.
shm::Store::SequenceStep to_store(const SequenceStep& step) {
    return [&step](std::string_view key, std::string_view state) {
        SequenceUpdate update = step(key, state);
        return shm::Store::SequenceUpdate{.keep = update.keep,
                                          .state = std::move(update.state),
                                          .wake_at_ms = update.wake_at_ms,
                                          .waiting = update.waiting,
                                          .duplicates = update.duplicates};
    };
}

}  // namespace

ShmBroker::ShmBroker(shm::Store& store, int slot,
                     const std::array<int, core::kMaxWorkerSlots>& wake_fds, struct ev_loop* loop)
    : store_(store), slot_(slot), wake_fds_(wake_fds), loop_(loop) {}

std::int64_t ShmBroker::now_ms() const {
    return static_cast<std::int64_t>(ev_now(loop_) * 1000);
}

void ShmBroker::wake(std::uint64_t slot_mask) const {
    const std::uint64_t one = 1;
    for (int slot = 0; slot_mask; slot++, slot_mask >>= 1) {
        if (!(slot_mask & 1))
            continue;
        if (::write(wake_fds_[slot], &one, sizeof one) < 0 && errno != EAGAIN)
            LOG_ALERT_ERRNO("write(eventfd)");
    }
}

Message ShmBroker::copy_out(const shm::MessagePin& pin, std::uint64_t receipt) const {
    shm::MessageView view = store_.view(pin);
    return {view.id,
            std::string(view.content_type),
            std::string(view.event),
            std::make_shared<const std::string>(view.body),
            receipt,
            nullptr};
}

Message ShmBroker::take(shm::MessagePin& pin) {
    Message message = copy_out(pin, 0);
    store_.unpin(pin);
    return message;
}

PublishResult ShmBroker::publish(std::string_view key, std::string_view content_type,
                                 std::string_view event, std::string_view body,
                                 const ChannelLimits& limits) {
    auto result = store_.publish(key, content_type, event, body, limits, now_ms());
    wake(result.wake_slots_mask);
    return {result.status, result.wake_slots_mask != 0, result.info, {}};
}

DeleteResult ShmBroker::delete_channel(std::string_view key) {
    auto result = store_.delete_channel(key, now_ms());
    wake(result.wake_slots_mask);
    return {result.status, result.info, {}};
}

std::optional<ChannelInfo> ShmBroker::info(std::string_view key) {
    return store_.info(key, now_ms());
}

SubscribeResult ShmBroker::subscribe(const SubscribeRequest& request) {
    shm::Store::SubscribeResult stored =
        store_.subscribe({.key = request.key,
                          .since = request.since,
                          .wait_for_new = request.wait_for_new,
                          .first_message = request.first_message,
                          .create_channel = request.create_channel,
                          .hold = request.wait,
                          .persistent = request.persistent,
                          .max_subscribers = request.max_subscribers,
                          .concurrency = to_store(request.concurrency),
                          .slot = slot_,
                          .limits_if_created = request.limits_if_created,
                          .now_ms = now_ms()});
    wake(stored.kick_slots_mask);
    SubscribeResult result{.status = stored.status,
                           .channel = {std::string(request.key), stored.uid},
                           .message = std::nullopt,
                           .waiting = stored.held,
                           .waiter_seq = stored.waiter_seq,
                           .resume_after = stored.resume_after};
    if (stored.message)
        result.message = take(stored.message);
    return result;
}

void ShmBroker::unsubscribe(const ChannelRef& channel, std::uint32_t n) {
    if (n > 0)
        store_.release_waiters(channel.key, channel.uid, slot_, n, now_ms());
}

void ShmBroker::record_delivery(const ChannelRef& channel, const Message& message,
                                std::uint32_t delivered, std::uint32_t ended) {
    store_.record_delivery(channel.key, channel.uid, slot_, delivered, ended,
                           shm::MessagePin{message.receipt}, now_ms());
}

NextResult ShmBroker::find_next(const ChannelRef& channel, MessageId since) {
    shm::Store::NextResult next =
        store_.find_next(channel.key, channel.uid, since, now_ms(), slot_);
    NextResult result{next.status, std::nullopt, next.kick_before_seq};
    if (next.message) {
        // Handed out means received: counted here, as subscribe() counts what it hands out.
        store_.record_delivery(channel.key, channel.uid, slot_, 1, 0, next.message, now_ms());
        result.message = take(next.message);
    }
    return result;
}

void ShmBroker::dispatch(shm::Store::Event& event) {
    switch (event.kind) {
        case shm::Store::Event::Published: {
            // The receipt is the pin: record_delivery() counts on the message it names. The pin
            // is given back when the last copy of the Message is gone: at the end of this block,
            // or later if the listener kept a copy to finish its delivery in batches.
            shm::MessagePin pin = event.message;
            event.message = {};
            Message message = copy_out(pin, pin.offset);
            message.receipt_hold = std::shared_ptr<const void>(
                nullptr, [this, pin](const void*) mutable { store_.unpin(pin); });
            listener_->on_message(event.uid, message);
            break;
        }
        case shm::Store::Event::Deleted:
            listener_->on_deleted(event.uid);
            if (live_handler_)
                live_handler_(event.uid);  // a wanted channel gone ends the wait as well
            break;
        case shm::Store::Event::Kick:
            listener_->on_kick(event.uid, event.before_seq);
            break;
        case shm::Store::Event::Reset:
            listener_->on_grip_recover();
            break;
        case shm::Store::Event::Live:
            if (live_handler_)
                live_handler_(event.uid);
            break;
    }
}

void ShmBroker::dispatch_events() {
    bool overflowed = false;
    events_.clear();
    store_.drain_mailbox(slot_, events_, overflowed);
    for (shm::Store::Event& event : events_) dispatch(event);
    if (overflowed) {
        LOG_WARN("mailbox of slot %d overflowed, resynchronising held subscribers", slot_);
        listener_->on_events_lost();
    }
}

void ShmBroker::expire() {
    store_.expire(now_ms());
}

void ShmBroker::set_held(core::SubscriberKind kind, std::uint32_t n) {
    store_.set_held(slot_, kind, n);
}

void ShmBroker::count_grip_items(std::uint64_t n) {
    store_.count_grip_items(n);
}

void ShmBroker::count_grip_rerequest() {
    store_.count_grip_rerequest();
}

void ShmBroker::count_grip_origin_error() {
    store_.count_grip_origin_error();
}

Status ShmBroker::sequence_grip(std::string_view key, const SequenceStep& step) {
    return store_.sequence(key, to_store(step));
}

std::size_t ShmBroker::sequence_grip_due(std::int64_t due_ms, const SequenceStep& step) {
    return store_.sequence_due(due_ms, to_store(step));
}

std::string ShmBroker::grip_sequence_state(std::string_view key) {
    return store_.sequence_state(key);
}

std::int64_t ShmBroker::next_grip_wake() {
    return store_.next_sequence_wake();
}

void ShmBroker::announce_grip_recover() {
    wake(store_.post_reset());
}

Stats ShmBroker::stats() {
    const shm::Store::Stats s = store_.stats();
    return {.segment_size = s.size,
            .segment_free = s.free,
            .channels = s.channels,
            .messages = s.messages,
            .subscribers = s.subscribers,
            .subscriber_bytes = s.subscriber_bytes,
            .subscriber_share = s.subscriber_share,
            .published = s.published,
            .delivered = s.delivered,
            .grip_items = s.grip_items,
            .grip_recovers = s.grip_recovers,
            .grip_rerequests = s.grip_rerequests,
            .grip_origin_errors = s.grip_origin_errors,
            .grip_waiting = s.sequence_waiting,
            .grip_duplicates = s.sequence_duplicates,
            .workers = s.workers,
            .connections = s.connections,
            .held = s.held,
            .started_ms = s.started_ms,
            .reloads = s.reloads,
            .redis_mode = false,
            .redis = s.redis};
}

}  // namespace pushrelay::broker
