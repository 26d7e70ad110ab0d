// push/subscriptions.h — the subscribers one worker holds, and the one place that ends them.
//
// A Subscription is one subscriber waiting on one channel, with the transport that frames what
// it receives (a subclass: LongPoll answers one message and is done; streams stay). A connection
// may carry any number. Subscriptions keeps them per channel, oldest first, hands them the
// broker's events, and owns the waiter accounting: every way a subscription ends goes through
// Subscriptions::end() with an Ending, and the Ending alone decides what the client is told and
// how the broker's count of waiters changes. No caller picks the accounting, so none can pick it
// wrong.
#pragma once

#include <ev.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "broker/broker.h"
#include "conf/conf.h"
#include "push/delivery.h"

namespace pushrelay::push {

class Multiplex;
class Subscriptions;
struct Waiting;

// Why a subscription ends.
enum class Ending : std::uint8_t {
    Delivered,   // a one-shot subscriber got its message (the broker counts it with the delivery)
    Resynced,    // a one-shot got its message from a resync (find_next counted the receipt)
    Deleted,     // the channel was deleted: 410 (the broker forgot its waiters itself)
    Kicked,      // a `last` subscriber took the channel: 409
    TimedOut,    // push_subscriber_timeout passed: 304
    Stopping,    // the worker stops gracefully: 304, and the client polls another worker
    Restarting,  // as Stopping, for a reload: streams say the service restarts
    // Nobody to answer through it: the client closed, or (a member of a multiplexed
    // subscription, push/multiplex.h) another member ended and answered for all.
    ClientGone,
};

class Subscription {
  public:
    virtual ~Subscription() = default;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Whether the first message ends it (long-poll) or it stays for more (streams).
    virtual bool one_shot() const = 0;
    // Its transport, as push_stub_status counts it.
    virtual core::SubscriberKind kind() const = 0;
    // Whether GRIP items (kGripItemType) are for it: a GRIP hold's; push subscribers never see
    // them.
    virtual bool takes_grip_items() const { return false; }
    // Whether a reload leaves it on its retiring worker until it ends (grip.md "Across workers":
    // a GRIP hold), instead of ending it as Restarting. The worker exits once none is left, or
    // at worker_shutdown_timeout.
    virtual bool outlives_reload() const { return false; }
    // Whether a push DELETE of its channel leaves it waiting (grip.md: DELETE concerns push
    // subscribers only; a GRIP hold stays, registered again on the channel as it is re-created).
    virtual bool outlives_delete() const { return false; }
    // Hands one message to the client.
    virtual void deliver(const Payload& payload, DeliveryHeads& heads) = 0;
    // Tells the client the subscription is over (Deleted, Kicked, TimedOut, Stopping).
    virtual void finish(Ending why) = 0;

    std::uint64_t seq() const { return seq_; }
    // The newest message it has received, or its starting point: only later ones are for it.
    core::MessageId since() const { return since_; }

  protected:
    Subscription() = default;
    // For the transport: its client went away (closed or reset). Ends the subscription.
    void client_gone();

  private:
    friend class Subscriptions;
    friend class Multiplex;

    Subscriptions* owner_ = nullptr;
    // A transport serving a multiplexed subscription is not in Subscriptions itself: its client
    // leaving ends this member of it (and so all of them). nullptr otherwise.
    Subscription* stand_in_ = nullptr;
    Waiting* waiting_ = nullptr;  // its channel's list
    Subscription* prev_ = nullptr;
    Subscription* next_ = nullptr;
    std::uint64_t seq_ = 0;
    core::MessageId since_{};
    // push_subscriber_timeout: its place in the list of its timeout value (nullptr: none).
    struct TimeoutList* timeouts_ = nullptr;
    Subscription* timeout_prev_ = nullptr;
    Subscription* timeout_next_ = nullptr;
    std::uint64_t deadline_us_ = 0;  // core::monotonic_us()
};

// The subscriptions that share one push_subscriber_timeout, in deadline order.
struct TimeoutList {
    std::uint64_t timeout_us = 0;
    Subscription* head = nullptr;
    Subscription* tail = nullptr;
};

// The subscriptions of one channel on this worker, oldest first.
struct Waiting {
    broker::ChannelRef channel;
    Subscription* head = nullptr;
    Subscription* tail = nullptr;
    bool walking = false;     // being walked: kept even when empty until the walk ends
    std::uint32_t walks = 0;  // messages queued for delivery to it: kept until they are done
};

// One message being delivered to one channel's subscriptions, possibly over several loop
// iterations (see Subscriptions::on_message). Not movable: `heads` refers to `payload`.
struct Walk {
    Walk(Waiting& w, const broker::Message& m)
        : waiting(&w), message(m), payload(make_payload(m)) {}
    Walk(const Walk&) = delete;
    Walk& operator=(const Walk&) = delete;

    Waiting* waiting;
    broker::Message message;  // a copy: the body shared, the broker's receipt kept valid
    Payload payload;
    bool grip_item = message.content_type == kGripItemType;
    DeliveryHeads heads{payload};
    bool started = false;
    Subscription* next = nullptr;  // once started: the next subscription to look at
    // Once started: how many walks, this one and those queued right behind it for the same
    // channel, go to each subscription together (see Subscriptions::advance).
    std::size_t group = 1;
    // Of `group`, the last ones joined while this walk was under way (they walk again after it).
    std::size_t joined = 0;
};

class Subscriptions final : public broker::Listener {
  public:
    // Subscriptions a message is handed to per loop iteration, all channels together, before
    // the loop reads its sockets again.
    static constexpr std::size_t kDeliveryBatch = 256;
    // Messages of one channel handed to a subscription together, at most (see advance()).
    static constexpr std::size_t kMaxGroup = 64;

    Subscriptions(broker::Broker& broker, struct ev_loop* loop, std::size_t batch = kDeliveryBatch);
    // Every subscription left is ended as ClientGone (its count given back).
    ~Subscriptions() override;
    Subscriptions(const Subscriptions&) = delete;
    Subscriptions& operator=(const Subscriptions&) = delete;

    // Takes a subscription the broker registered as waiting on `channel` (SubscribeResult:
    // waiter_seq, and resume_after as `since`); `timeout` 0 means none.
    void add(std::unique_ptr<Subscription> subscription, const broker::ChannelRef& channel,
             std::uint64_t seq, core::MessageId since, conf::Millis timeout);

    // For a persistent subscription just added: sends it what is stored after its starting
    // point, as a resync does. False when that ended it (its channel was deleted, or a `last`
    // subscriber kicked it); it must not be used then.
    bool catch_up(Subscription& subscription);
    // catch_up() for the members of one multiplexed subscription (push/multiplex.h), all just
    // added: `next[i]` is the first stored message of members[i]'s channel (subscribe()'s
    // match, already counted), and each is followed by the rest of its channel. Sent merged by
    // (time, tag, position in the list). False when that ended them (a one-shot delivered, a
    // channel deleted, a kick); they must not be used then.
    bool catch_up(std::span<Subscription* const> members,
                  std::vector<std::optional<broker::Message>> next);
    // Ends one subscription as the graceful stop under way ended them all (a stream that begins
    // while the worker stops gets what is stored, then ends).
    void stop(Subscription& subscription);
    // A graceful stop: every subscription ends as `why` (Stopping, or Restarting for the ones that
    // do not outlive a reload).
    void stop_all(Ending why);

    // Subscriptions held, all channels.
    std::size_t size() const { return size_; }
    // Messages whose delivery is not finished yet (continued by the loop).
    std::size_t pending_walks() const { return walks_.size(); }

    // What on_grip_recover() calls (the GRIP proxy refreshes its holds); none until set.
    void set_grip_recover_hook(std::function<void()> hook) { grip_recover_hook_ = std::move(hook); }

    // broker::Listener
    void on_message(std::uint64_t uid, const broker::Message& message) override;
    void on_deleted(std::uint64_t uid) override;
    void on_kick(std::uint64_t uid, std::uint64_t before_seq) override;
    void on_events_lost() override;
    void on_grip_recover() override;

  private:
    friend class Subscription;
    friend class Multiplex;

    // Unlinks, answers as `why` says, settles the broker's count, and destroys `s`.
    void end(Subscription& s, Ending why);
    void unlink(Subscription& s);
    // Offers each subscription of `uid` to `visit(subscription, waiting)`, in place.
    template <typename Visit>
    void visit_each(std::uint64_t uid, Visit visit);
    // Ends every subscription of `uid` for which `pick` says true.
    template <typename Pick>
    void end_each(std::uint64_t uid, Ending why, Pick pick);
    // After lost events: what `s` missed, asked of the broker. Ends it or brings it up to date.
    // Returns whether `s` still waits.
    bool resync(Subscription& s);
    // Asks the broker for what follows `s.since()` into *next; false when the answer ended `s`
    // (its channel deleted: Deleted; a `last` subscriber came after it: Kicked).
    bool fetch_next(Subscription& s, std::optional<broker::Message>* next);
    // Sends `message` (already counted by the broker) to `s`; false when that ended it (one-shot).
    bool hand_over(Subscription& s, const broker::Message& message);
    void settle_walk(Waiting& waiting);
    // Counts one more (+1) or one fewer (-1) subscription of `kind` and tells the broker.
    void count_held(core::SubscriberKind kind, int delta);
    // Puts `s` at the tail of `channel`'s list (creating it) with its registration `seq`.
    void link(Subscription& s, const broker::ChannelRef& channel, std::uint64_t seq,
              core::MessageId since);
    // After a deletion of `key`: registers `s` again on the channel, as it is created anew, and
    // moves it there; ends it (Deleted) when the broker refuses.
    void rejoin(Subscription& s, const std::string& key);
    std::vector<std::uint64_t> channel_uids() const;
    // Finishes the pending walks if one is for `uid`, so that its next event applies after them.
    void finish_walks_before(std::uint64_t uid);
    // Forgets `waiting` if nothing refers to it any more.
    void erase_if_unused(Waiting& waiting);
    // Continues the queued walks, oldest first, within this loop iteration's budget (`all`:
    // without a budget); starts or stops the watchers that continue them.
    void run_walks(bool all = false);
    // Walks the front walk's list until it or the budget ends, handing each subscription the
    // messages of the front walk's group; true when the list's end was reached.
    bool advance(bool all);
    void join_walk_in_progress(Waiting& waiting);
    static void on_check(struct ev_loop* loop, ev_check* w, int revents);
    static void on_idle(struct ev_loop* loop, ev_idle* w, int revents);
    // Ends the subscriptions whose timeout has passed and sets the timer for the next one.
    static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);
    void arm_timer(std::uint64_t now_us);

    broker::Broker& broker_;
    struct ev_loop* loop_;
    std::unordered_map<std::uint64_t, Waiting> channels_;  // by channel uid
    std::size_t size_ = 0;
    core::SubscriberCounts held_{};  // size_ by kind

    // Message deliveries not finished yet, in the order the messages came.
    std::deque<Walk> walks_;
    std::size_t batch_;
    std::size_t budget_ = 0;                 // deliveries left in this loop iteration
    unsigned budget_iteration_ = ~0u;        // ev_iteration() the budget belongs to
    bool running_ = false;                   // in run_walks()
    Ending stop_ending_ = Ending::Stopping;  // what stop_all() said
    ev_check check_;                         // continues the walks after each poll
    ev_idle idle_;                           // keeps the poll from blocking while walks are pending

    // Timeouts without one libev timer per subscription (whose heap, thousands deep, cost a
    // stop and a start per poll): subscriptions with the same timeout join its list in time
    // order, so each list is in deadline order, and one timer is set for the earliest head.
    std::deque<TimeoutList> timeout_lists_;  // one per distinct timeout value: a handful
    ev_timer timer_;
    std::function<void()> grip_recover_hook_;
    std::uint64_t timer_at_us_ = 0;  // when timer_ fires, while active
};

}  // namespace pushrelay::push
