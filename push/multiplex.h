// push/multiplex.h — one subscriber on several channels (transports.md "Multiplexing").
//
// A multiplexed subscription is one transport (LongPoll, Stream, or any other Subscription
// subclass: WebSocket plugs in the same way) and one Member per channel. The members are what
// push::Subscriptions holds, each in its own channel's list with its own starting point, so walks,
// resyncs, deletions, kicks, timeouts and the waiter accounting work per channel exactly as for a
// plain subscription; each counts as one waiter on its channel. A member hands what it receives to
// the Multiplex, which writes the multiplexed id (protocol::MultiplexedIds) into the payload and
// passes it to the transport. The transport is never in Subscriptions itself: its client leaving
// ends a member.
//
// Invariant: when any member ends, for any reason, every other one ends at once, with the
// ClientGone accounting (each gives its waiter back; the client was answered, if at all, by the
// ending that came first). So the transport hears one ending, and no channel counts it after.
//
// Worker process, the loop's thread only. Members keep the Multiplex (and so the transport)
// alive: it goes with the last of them.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "protocol/message_id.h"
#include "push/subscriptions.h"

namespace pushrelay::push {

class Multiplex : public std::enable_shared_from_this<Multiplex> {
  public:
    // `transport` answers the client; `channels` (> 1) members; `resumed`: the id the client
    // resumed from (nullopt: none), the first "previous id" of the ids served.
    static std::shared_ptr<Multiplex> create(Subscriptions& subscriptions,
                                             std::unique_ptr<Subscription> transport,
                                             std::size_t channels,
                                             const std::optional<protocol::IdList>& resumed);
    ~Multiplex();
    Multiplex(const Multiplex&) = delete;
    Multiplex& operator=(const Multiplex&) = delete;

    // The member for channel `position`, once each, for Subscriptions::add().
    std::unique_ptr<Subscription> member(std::size_t position);

    // After every member was added: Subscriptions::catch_up() over the members. `first[i]` is
    // what subscribe() matched on channel i. False when that ended the subscription.
    bool catch_up(std::vector<std::optional<broker::Message>> first);
    // Ends it as a graceful stop does (a stream that begins while the worker stops).
    void stop();

  private:
    class Member;

    Multiplex(Subscriptions& subscriptions, std::unique_ptr<Subscription> transport,
              std::size_t channels, const std::optional<protocol::IdList>& resumed);
    void deliver(std::size_t position, const Payload& payload);
    void finish(Ending why);
    // A member is going (its destructor): the others go too.
    void member_gone(std::size_t position);

    Subscriptions& subscriptions_;
    std::unique_ptr<Subscription> transport_;
    std::vector<Subscription*> members_;  // by position; nullptr once gone (or not made yet)
    protocol::MultiplexedIds ids_;
    bool ending_ = false;    // a member has gone: the rest are being ended
    bool finished_ = false;  // the transport was told the ending
};

}  // namespace pushrelay::push
