#include "push/subscriptions.h"

#include <vector>

#include "core/clock.h"
#include "core/log.h"

namespace pushrelay::push {
namespace {

constexpr std::size_t kMaxPendingWalks = 256;

}  // namespace

void Subscription::client_gone() {
    Subscription& s = stand_in_ ? *stand_in_ : *this;
    s.owner_->end(s, Ending::ClientGone);
}

Subscriptions::Subscriptions(broker::Broker& broker, struct ev_loop* loop, std::size_t batch)
    : broker_(broker), loop_(loop), batch_(batch > 0 ? batch : 1) {
    ev_check_init(&check_, on_check);
    check_.data = this;
    ev_idle_init(&idle_, on_idle);
    idle_.data = this;
    ev_init(&timer_, on_timer);
    timer_.data = this;
}

Subscriptions::~Subscriptions() {
    ev_check_stop(loop_, &check_);
    ev_idle_stop(loop_, &idle_);
    ev_timer_stop(loop_, &timer_);
    // Deliveries not finished are dropped: their copies give the broker's receipts back.
    for (Walk& walk : walks_) walk.waiting->walks--;
    walks_.clear();
    while (!channels_.empty()) {
        end_each(channels_.begin()->first, Ending::ClientGone,
                 [](const Subscription&) { return true; });
    }
}

void Subscriptions::count_held(core::SubscriberKind kind, int delta) {
    std::uint64_t& n = held_[static_cast<std::size_t>(kind)];
    n += static_cast<std::uint64_t>(static_cast<std::int64_t>(delta));
    broker_.set_held(kind, static_cast<std::uint32_t>(n));
}

void Subscriptions::link(Subscription& s, const broker::ChannelRef& channel, std::uint64_t seq,
                         core::MessageId since) {
    Waiting& waiting = channels_[channel.uid];
    if (!waiting.head)
        waiting.channel = channel;
    s.waiting_ = &waiting;  // a node of the map: stable across rehashes
    s.prev_ = waiting.tail;
    s.next_ = nullptr;
    (waiting.tail ? waiting.tail->next_ : waiting.head) = &s;
    waiting.tail = &s;
    s.seq_ = seq;
    s.since_ = since;
}

void Subscriptions::add(std::unique_ptr<Subscription> subscription,
                        const broker::ChannelRef& channel, std::uint64_t seq, core::MessageId since,
                        conf::Millis timeout) {
    Subscription* s = subscription.release();  // owned by the list until end()
    s->owner_ = this;
    link(*s, channel, seq, since);
    size_++;
    count_held(s->kind(), 1);
    if (timeout.count() <= 0)
        return;
    const std::uint64_t timeout_us = static_cast<std::uint64_t>(timeout.count()) * 1000;
    TimeoutList* list = nullptr;
    for (TimeoutList& l : timeout_lists_) {
        if (l.timeout_us == timeout_us) {
            list = &l;
            break;
        }
    }
    if (!list)
        list = &timeout_lists_.emplace_back(TimeoutList{timeout_us, nullptr, nullptr});
    const std::uint64_t now = core::monotonic_us();
    s->timeouts_ = list;
    s->deadline_us_ = now + timeout_us;
    s->timeout_prev_ = list->tail;
    s->timeout_next_ = nullptr;
    (list->tail ? list->tail->timeout_next_ : list->head) = s;
    list->tail = s;
    if (!ev_is_active(&timer_) || s->deadline_us_ < timer_at_us_)
        arm_timer(now);
}

void Subscriptions::arm_timer(std::uint64_t now_us) {
    std::uint64_t next = 0;
    for (const TimeoutList& l : timeout_lists_) {
        if (l.head && (next == 0 || l.head->deadline_us_ < next))
            next = l.head->deadline_us_;
    }
    ev_timer_stop(loop_, &timer_);
    if (next == 0)
        return;
    timer_at_us_ = next;
    // libev's clock may lag ours by a little: on_timer re-arms for what is left.
    const std::uint64_t wait_us = next > now_us ? next - now_us : 0;
    ev_timer_set(&timer_, static_cast<double>(wait_us) / 1e6, 0.);
    ev_timer_start(loop_, &timer_);
}

void Subscriptions::on_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Subscriptions*>(w->data);
    const std::uint64_t now = core::monotonic_us();
    for (TimeoutList& l : self->timeout_lists_) {
        // Ending one may add others (a pipelined poll): they join the tail, not yet due.
        while (l.head && l.head->deadline_us_ <= now) self->end(*l.head, Ending::TimedOut);
    }
    self->arm_timer(core::monotonic_us());
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
        case Ending::Restarting:
        case Ending::ClientGone:
            broker_.unsubscribe(s.waiting_->channel, 1);
            break;
    }
    if (TimeoutList* list = s.timeouts_) {
        (s.timeout_prev_ ? s.timeout_prev_->timeout_next_ : list->head) = s.timeout_next_;
        (s.timeout_next_ ? s.timeout_next_->timeout_prev_ : list->tail) = s.timeout_prev_;
        s.timeouts_ = nullptr;
    }
    if (why != Ending::Delivered && why != Ending::Resynced && why != Ending::ClientGone)
        s.finish(why);
    unlink(s);
    size_--;
    count_held(s.kind(), -1);
    delete &s;
}

void Subscriptions::unlink(Subscription& s) {
    Waiting& waiting = *s.waiting_;
    // The walk in progress (only the front one is ever started) must not step onto it.
    if (!walks_.empty() && walks_.front().next == &s)
        walks_.front().next = s.next_;
    (s.prev_ ? s.prev_->next_ : waiting.head) = s.next_;
    (s.next_ ? s.next_->prev_ : waiting.tail) = s.prev_;
    erase_if_unused(waiting);
}

void Subscriptions::erase_if_unused(Waiting& waiting) {
    if (!waiting.head && !waiting.walking && waiting.walks == 0)
        channels_.erase(waiting.channel.uid);
}

void Subscriptions::settle_walk(Waiting& waiting) {
    waiting.walking = false;
    erase_if_unused(waiting);
}

// The list is walked in place: ending a subscription unlinks only itself, and one added during
// the walk (a pipelined request answered by a delivery) goes to the tail, after `next`. Answering
// a client may add channels (a rehash), so the walk holds a reference, never an iterator.
template <typename Visit>
void Subscriptions::visit_each(std::uint64_t uid, Visit visit) {
    auto it = channels_.find(uid);
    if (it == channels_.end())
        return;
    Waiting& waiting = it->second;
    waiting.walking = true;
    for (Subscription* s = waiting.head; s;) {
        Subscription* next = s->next_;
        visit(*s, waiting);
        s = next;
    }
    settle_walk(waiting);
}

template <typename Pick>
void Subscriptions::end_each(std::uint64_t uid, Ending why, Pick pick) {
    visit_each(uid, [&](Subscription& s, Waiting&) {
        if (pick(s))
            end(s, why);
    });
}

// Delivery in bounded batches. A message for a channel with 5,000 subscriptions on this worker
// used to be answered in one callback, and everything else the worker had to do (the re-polls of
// the subscribers just answered, publishes, other channels' messages) waited behind it. Now each
// message becomes a Walk, queued in arrival order in `walks_`, and at most `batch_` subscriptions
// (all walks together) are looked at per loop iteration: the first ones at once, in on_message,
// the rest from an ev_check watcher after each poll (an ev_idle watcher keeps that poll from
// blocking while walks are pending).
//
// What stays exact:
//   - Order: walks run strictly one after the other in arrival order, and only the front one is
//     ever started, so a subscription never sees message N+1 before N, and a later message of a
//     channel never overtakes the unfinished walk of an earlier one.
//   - Subscriptions added mid-walk go to the tail of the list, with `since` at least the
//     channel's newest id when they registered (or the message they just received), so the walk
//     passes over them. One ending mid-walk is unlinked, and unlink() moves the walk's cursor
//     past it if it was next. The Waiting stays (walks > 0) until its last walk is done.
//   - Accounting: each slice of a walk (the subscriptions handled in one iteration) tells the
//     broker its own delivered/ended counts, so the counts add up to one record per message and
//     one-shot waiters stop counting as soon as they are answered (their re-poll registers
//     again). The broker's receipt stays valid while the Walk's copy of the Message lives
//     (broker::Message::receipt_hold): the copy goes when the walk ends.
//   - A graceful stop finishes the pending walks before answering the rest 304; destruction
//     drops them.
void Subscriptions::on_message(std::uint64_t uid, const broker::Message& message) {
    auto it = channels_.find(uid);
    if (it == channels_.end())
        return;
    Waiting& waiting = it->second;
    // Bounded backlog: each walk holds a copy of its message and the broker's receipt (a pin in
    // the segment). A worker that falls this far behind finishes what it has first, as it did
    // before batching, rather than queue without limit.
    if (walks_.size() >= kMaxPendingWalks)
        run_walks(true);
    walks_.emplace_back(waiting, message);
    waiting.walks++;
    join_walk_in_progress(waiting);
    if (walks_.size() == 1)
        run_walks();
    else if (!ev_is_active(&check_)) {
        ev_check_start(loop_, &check_);
        ev_idle_start(loop_, &idle_);
    }
}

// A message for the channel whose walk is under way, queued right behind that walk's group, joins
// it: the subscriptions the walk has yet to visit get it in the same visit (the same write) as
// the earlier ones, not one whole walk later. It stays queued for its own walk too, which hands it
// to the subscriptions before the join point; the rest have it already, and their `since` skips
// them.
void Subscriptions::join_walk_in_progress(Waiting& waiting) {
    Walk& lead = walks_.front();
    if (!lead.started || lead.waiting != &waiting || lead.group != walks_.size() - 1 ||
        lead.group >= kMaxGroup)
        return;
    lead.group++;
    lead.joined++;
}

void Subscriptions::run_walks(bool all) {
    if (running_)
        return;
    running_ = true;
    const unsigned iteration = ev_iteration(loop_);
    if (iteration != budget_iteration_) {
        budget_iteration_ = iteration;
        budget_ = batch_;
    }
    while (!walks_.empty() && (all || budget_ > 0)) {
        if (!advance(all))
            break;
        Waiting& waiting = *walks_.front().waiting;
        // Walks that joined the group midway stay for their own walk, from the list's head.
        for (std::size_t n = walks_.front().group - walks_.front().joined; n > 0; n--) {
            walks_.pop_front();
            waiting.walks--;
        }
        erase_if_unused(waiting);
    }
    running_ = false;
    if (walks_.empty()) {
        ev_check_stop(loop_, &check_);
        ev_idle_stop(loop_, &idle_);
    } else if (!ev_is_active(&check_)) {
        ev_check_start(loop_, &check_);
        ev_idle_start(loop_, &idle_);
    }
}

// A burst on one channel (messages queued faster than they are handed out) goes to each
// subscription as one group: its frames leave in one write per loop turn, and its list is walked
// once, not once per message. Only walks queued back to back join, so every channel's messages
// keep their order relative to the other channels' too.
bool Subscriptions::advance(bool all) {
    Walk& lead = walks_.front();
    Waiting& waiting = *lead.waiting;
    if (!lead.started) {
        lead.started = true;
        lead.next = waiting.head;
        while (lead.group < walks_.size() && lead.group < kMaxGroup &&
               walks_[lead.group].waiting == &waiting)
            lead.group++;
    }
    std::array<std::uint32_t, kMaxGroup> delivered{}, ended{};
    while (lead.next && (all || budget_ > 0)) {
        Subscription* s = lead.next;
        lead.next = s->next_;
        // The budget counts visits that hand something out: a walk whose messages most
        // subscriptions have already (joined midway, see join_walk_in_progress) passes them fast.
        if (budget_ > 0 && s->since_ < walks_[lead.group - 1].message.id)
            budget_--;
        for (std::size_t i = 0; i < lead.group; i++) {
            Walk& walk = walks_[i];
            if (walk.message.id <= s->since_ || (walk.grip_item && !s->takes_grip_items()))
                continue;
            s->since_ = walk.message.id;
            s->deliver(walk.payload, walk.heads);
            delivered[i]++;
            if (s->one_shot()) {
                ended[i]++;
                end(*s, Ending::Delivered);
                break;
            }
        }
    }
    for (std::size_t i = 0; i < lead.group; i++) {
        if (delivered[i] > 0)
            broker_.record_delivery(waiting.channel, walks_[i].message, delivered[i], ended[i]);
    }
    return lead.next == nullptr;
}

void Subscriptions::on_check(struct ev_loop*, ev_check* w, int) {
    static_cast<Subscriptions*>(w->data)->run_walks();
}

void Subscriptions::on_idle(struct ev_loop*, ev_idle*, int) {}

// Events apply in the order they were posted: a message published before a deletion or a kick
// reaches every subscription it was for before they end. Such events are rare, so the pending
// walks are simply finished first.
void Subscriptions::finish_walks_before(std::uint64_t uid) {
    auto it = channels_.find(uid);
    if (it != channels_.end() && it->second.walks > 0)
        run_walks(true);
}

void Subscriptions::on_deleted(std::uint64_t uid) {
    finish_walks_before(uid);
    std::vector<Subscription*> staying;
    std::string key;
    visit_each(uid, [&](Subscription& s, Waiting& waiting) {
        if (!s.outlives_delete())
            return end(s, Ending::Deleted);
        key = waiting.channel.key;
        staying.push_back(&s);
    });
    for (Subscription* s : staying) rejoin(*s, key);
}

// A message published between the deletion and this registration (by another worker) is missed:
// GRIP holds keep no history, as for one published before they subscribed.
void Subscriptions::rejoin(Subscription& s, const std::string& key) {
    broker::SubscribeRequest request;
    request.key = key;
    request.wait_for_new = true;
    request.persistent = true;
    request.limits_if_created.store_messages = false;
    const broker::SubscribeResult result = broker_.subscribe(request);
    if (result.status != core::Status::Ok || !result.waiting)
        return end(s, Ending::Deleted);  // the deletion already forgot its waiter
    unlink(s);
    link(s, result.channel, result.waiter_seq, result.resume_after);
}

void Subscriptions::on_kick(std::uint64_t uid, std::uint64_t before_seq) {
    finish_walks_before(uid);
    end_each(uid, Ending::Kicked, [&](const Subscription& s) { return s.seq() < before_seq; });
}

// A copy: what is done per channel may remove channels.
std::vector<std::uint64_t> Subscriptions::channel_uids() const {
    std::vector<std::uint64_t> uids;
    uids.reserve(channels_.size());
    for (const auto& [uid, waiting] : channels_) uids.push_back(uid);
    return uids;
}

void Subscriptions::stop_all(Ending why) {
    stop_ending_ = why;
    run_walks(true);
    const bool reload = why == Ending::Restarting;
    for (std::uint64_t uid : channel_uids())
        end_each(uid, why, [&](const Subscription& s) { return !(reload && s.outlives_reload()); });
}

// Lost events may have said anything: a deletion, a newer `last` subscriber, or messages. Every
// subscription asks the broker; a persistent one gets everything it missed, not only the next.
void Subscriptions::on_events_lost() {
    run_walks(true);
    for (std::uint64_t uid : channel_uids())
        visit_each(uid, [&](Subscription& s, Waiting&) { resync(s); });
}

void Subscriptions::on_grip_recover() {
    // An operator's action after a publisher outage, rare: worth a line per worker.
    LOG_INFO("GRIP recover: the GRIP holds of this worker refresh");
    if (grip_recover_hook_)
        grip_recover_hook_();
}

bool Subscriptions::resync(Subscription& s) {
    for (;;) {
        std::optional<broker::Message> next;
        if (!fetch_next(s, &next))
            return false;
        if (!next)
            return true;
        if (!hand_over(s, *next))
            return false;
    }
}

bool Subscriptions::fetch_next(Subscription& s, std::optional<broker::Message>* next) {
    broker::NextResult found = broker_.find_next(s.waiting_->channel, s.since_);
    if (found.status == core::Status::Gone) {
        end(s, Ending::Deleted);
        return false;
    }
    if (s.seq_ < found.kick_before_seq) {
        end(s, Ending::Kicked);
        return false;
    }
    *next = std::move(found.message);
    return true;
}

bool Subscriptions::hand_over(Subscription& s, const broker::Message& message) {
    Payload payload = make_payload(message);
    DeliveryHeads heads(payload);
    s.since_ = message.id;
    s.deliver(payload, heads);
    if (s.one_shot()) {
        end(s, Ending::Resynced);
        return false;
    }
    return true;
}

bool Subscriptions::catch_up(Subscription& subscription) {
    return resync(subscription);
}

// A k-way merge: each channel's next message is fetched only once its previous one is sent, so
// a long backlog is read as a single channel's is, one find_next() per message. O(channels) per
// message to pick the oldest: at most 255 channels, and backlogs are short.
bool Subscriptions::catch_up(std::span<Subscription* const> members,
                             std::vector<std::optional<broker::Message>> next) {
    for (;;) {
        const std::size_t pick = oldest_of(next);
        if (pick == next.size())
            return true;
        Subscription& s = *members[pick];
        if (!hand_over(s, *next[pick]) || !fetch_next(s, &next[pick]))
            return false;
    }
}

void Subscriptions::stop(Subscription& subscription) {
    end(subscription, stop_ending_);
}

}  // namespace pushrelay::push
