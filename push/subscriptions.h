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
#include <memory>
#include <unordered_map>

#include "broker/broker.h"
#include "conf/conf.h"
#include "push/delivery.h"

namespace pushrelay::push {

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
    ClientGone,  // the client closed: nobody to answer
};

class Subscription {
  public:
    virtual ~Subscription() = default;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Whether the first message ends it (long-poll) or it stays for more (streams).
    virtual bool one_shot() const = 0;
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
    static void on_timeout(struct ev_loop* loop, ev_timer* w, int revents);

    Subscriptions* owner_ = nullptr;
    Waiting* waiting_ = nullptr;  // its channel's list
    Subscription* prev_ = nullptr;
    Subscription* next_ = nullptr;
    std::uint64_t seq_ = 0;
    core::MessageId since_{};
    ev_timer timeout_;
};

// The subscriptions of one channel on this worker, oldest first.
struct Waiting {
    broker::ChannelRef channel;
    Subscription* head = nullptr;
    Subscription* tail = nullptr;
    bool walking = false;  // being walked: kept even when empty until the walk ends
};

class Subscriptions final : public broker::Listener {
  public:
    Subscriptions(broker::Broker& broker, struct ev_loop* loop);
    // Every subscription left is ended as ClientGone (its count given back).
    ~Subscriptions() override;
    Subscriptions(const Subscriptions&) = delete;
    Subscriptions& operator=(const Subscriptions&) = delete;

    // Takes a subscription the broker registered as waiting on `channel` (SubscribeResult:
    // waiter_seq, and resume_after as `since`); `timeout` 0 means none.
    void add(std::unique_ptr<Subscription> subscription, const broker::ChannelRef& channel,
             std::uint64_t seq, core::MessageId since, conf::Millis timeout);

    // A graceful stop: every subscription ends as Stopping.
    void stop_all();

    // Subscriptions held, all channels.
    std::size_t size() const { return size_; }

    // broker::Listener
    void on_message(std::uint64_t uid, const broker::Message& message) override;
    void on_deleted(std::uint64_t uid) override;
    void on_kick(std::uint64_t uid, std::uint64_t before_seq) override;
    void on_events_lost() override;

  private:
    friend class Subscription;

    // Unlinks, answers as `why` says, settles the broker's count, and destroys `s`.
    void end(Subscription& s, Ending why);
    void unlink(Subscription& s);
    // Ends every subscription of `uid` for which `pick` says true; walks the list in place.
    template <typename Pick>
    void end_each(std::uint64_t uid, Ending why, Pick pick);
    // After lost events: what `s` missed, asked of the broker. Ends it or brings it up to date.
    void resync(Subscription& s, const broker::ChannelRef& channel);
    void settle_walk(Waiting& waiting);

    broker::Broker& broker_;
    struct ev_loop* loop_;
    std::unordered_map<std::uint64_t, Waiting> channels_;  // by channel uid
    std::size_t size_ = 0;
};

}  // namespace pushrelay::push
