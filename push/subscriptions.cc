#include "push/subscriptions.h"

#include <vector>

namespace pushrelay::push {

void Subscription::client_gone() {
    owner_->end(*this, Ending::ClientGone);
}

void Subscription::on_timeout(struct ev_loop*, ev_timer* w, int) {
    auto* s = static_cast<Subscription*>(w->data);
    s->owner_->end(*s, Ending::TimedOut);
}

Subscriptions::Subscriptions(broker::Broker& broker, struct ev_loop* loop)
    : broker_(broker), loop_(loop) {}

Subscriptions::~Subscriptions() {
    while (!channels_.empty()) {
        end_each(channels_.begin()->first, Ending::ClientGone,
                 [](const Subscription&) { return true; });
    }
}

void Subscriptions::add(std::unique_ptr<Subscription> subscription,
                        const broker::ChannelRef& channel, std::uint64_t seq, core::MessageId since,
                        conf::Millis timeout) {
    Subscription* s = subscription.release();  // owned by the list until end()
    Waiting& waiting = channels_[channel.uid];
    if (!waiting.head)
        waiting.channel = channel;
    s->owner_ = this;
    s->waiting_ = &waiting;  // a node of the map: stable across rehashes
    s->prev_ = waiting.tail;
    s->next_ = nullptr;
    (waiting.tail ? waiting.tail->next_ : waiting.head) = s;
    waiting.tail = s;
    s->seq_ = seq;
    s->since_ = since;
    ev_timer_init(&s->timeout_, Subscription::on_timeout, timeout.count() / 1000.0, 0.);
    s->timeout_.data = s;
    if (timeout.count() > 0)
        ev_timer_start(loop_, &s->timeout_);
    size_++;
}

void Subscriptions::end(Subscription& s, Ending why) {
    switch (why) {
        case Ending::Delivered:  // the caller's record_delivery() forgets it
        case Ending::Deleted:    // the deletion forgot every waiter of the channel
            break;
        case Ending::Resynced:
        case Ending::Kicked:
        case Ending::TimedOut:
        case Ending::Stopping:
        case Ending::ClientGone:
            broker_.unsubscribe(s.waiting_->channel, 1);
            break;
    }
    ev_timer_stop(loop_, &s.timeout_);
    if (why != Ending::Delivered && why != Ending::Resynced && why != Ending::ClientGone)
        s.finish(why);
    unlink(s);
    size_--;
    delete &s;
}

void Subscriptions::unlink(Subscription& s) {
    Waiting& waiting = *s.waiting_;
    (s.prev_ ? s.prev_->next_ : waiting.head) = s.next_;
    (s.next_ ? s.next_->prev_ : waiting.tail) = s.prev_;
    if (!waiting.head && !waiting.walking)
        channels_.erase(waiting.channel.uid);
}

void Subscriptions::settle_walk(Waiting& waiting) {
    waiting.walking = false;
    if (!waiting.head)
        channels_.erase(waiting.channel.uid);
}

// The list is walked in place: ending a subscription unlinks only itself, and one added during
// the walk (a pipelined request answered by a delivery) goes to the tail, after `next`. Answering
// a client may add channels (a rehash), so the walk holds a reference, never an iterator.
template <typename Pick>
void Subscriptions::end_each(std::uint64_t uid, Ending why, Pick pick) {
    auto it = channels_.find(uid);
    if (it == channels_.end())
        return;
    Waiting& waiting = it->second;
    waiting.walking = true;
    for (Subscription* s = waiting.head; s;) {
        Subscription* next = s->next_;
        if (pick(*s))
            end(*s, why);
        s = next;
    }
    settle_walk(waiting);
}

void Subscriptions::on_message(std::uint64_t uid, const broker::Message& message) {
    auto it = channels_.find(uid);
    if (it == channels_.end())
        return;
    Waiting& waiting = it->second;
    Payload payload = make_payload(message);
    DeliveryHeads heads(payload);
    std::uint32_t delivered = 0, ended = 0;
    waiting.walking = true;
    for (Subscription* s = waiting.head; s;) {
        Subscription* next = s->next_;
        if (message.id > s->since_) {
            s->since_ = message.id;
            s->deliver(payload, heads);
            delivered++;
            if (s->one_shot()) {
                ended++;
                end(*s, Ending::Delivered);
            }
        }
        s = next;
    }
    if (delivered > 0)
        broker_.record_delivery(waiting.channel, message, delivered, ended);
    settle_walk(waiting);
}

void Subscriptions::on_deleted(std::uint64_t uid) {
    end_each(uid, Ending::Deleted, [](const Subscription&) { return true; });
}

void Subscriptions::on_kick(std::uint64_t uid, std::uint64_t before_seq) {
    end_each(uid, Ending::Kicked, [&](const Subscription& s) { return s.seq() < before_seq; });
}

void Subscriptions::stop_all() {
    while (!channels_.empty()) {
        end_each(channels_.begin()->first, Ending::Stopping,
                 [](const Subscription&) { return true; });
    }
}

// Lost events may have said anything: a deletion, a newer `last` subscriber, or messages. Every
// subscription asks the broker; a persistent one gets everything it missed, not only the next.
void Subscriptions::on_events_lost() {
    std::vector<std::uint64_t> uids;
    uids.reserve(channels_.size());
    for (const auto& [uid, waiting] : channels_) uids.push_back(uid);
    for (std::uint64_t uid : uids) {
        auto it = channels_.find(uid);
        if (it == channels_.end())
            continue;
        Waiting& waiting = it->second;
        waiting.walking = true;
        for (Subscription* s = waiting.head; s;) {
            Subscription* next = s->next_;
            resync(*s, waiting.channel);
            s = next;
        }
        settle_walk(waiting);
    }
}

void Subscriptions::resync(Subscription& s, const broker::ChannelRef& channel) {
    for (;;) {
        broker::NextResult next = broker_.find_next(channel, s.since_);
        if (next.status == core::Status::Gone) {
            end(s, Ending::Deleted);
            return;
        }
        if (s.seq_ < next.kick_before_seq) {
            end(s, Ending::Kicked);
            return;
        }
        if (!next.message)
            return;
        Payload payload = make_payload(*next.message);
        DeliveryHeads heads(payload);
        s.since_ = next.message->id;
        s.deliver(payload, heads);
        if (s.one_shot()) {
            end(s, Ending::Resynced);
            return;
        }
    }
}

}  // namespace pushrelay::push
