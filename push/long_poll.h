// push/long_poll.h — the long-poll transport: a held request answered by one message (or 410,
// 409, 304), after which the client polls again with the Last-Modified/Etag it received.
#pragma once

#include "http/connection.h"
#include "push/subscriptions.h"

namespace pushrelay::push {

class LongPoll final : public Subscription, private http::ExchangeObserver {
  public:
    // Holds `exchange` until the subscription ends.
    explicit LongPoll(http::Exchange& exchange);

    bool one_shot() const override { return true; }
    core::SubscriberKind kind() const override { return core::SubscriberKind::LongPoll; }
    void deliver(const Payload& payload, DeliveryHeads& heads) override;
    void finish(Ending why) override;

  private:
    void exchange_aborted() override { client_gone(); }

    http::Exchange& exchange_;
};

}  // namespace pushrelay::push
