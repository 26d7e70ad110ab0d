// push/deferred.h — an exchange answered after a broker round trip (Redis mode: a publish, a
// delete, channel info, a subscriber whose channel the node's cache must fetch first).
//
// The broker's callback may come after the client left. A Deferred watches the exchange in
// between: the callback asks take() for it and gets nullptr if it is gone. In memory mode the
// callback comes at once, inside the call, and the watch costs one observer set and cleared.
#pragma once

#include <memory>

#include "http/connection.h"

namespace pushrelay::push {

class Deferred final : public http::ExchangeObserver {
  public:
    // Watches `exchange`, which must have no observer, until take() or destruction.
    static std::shared_ptr<Deferred> watch(http::Exchange& exchange) {
        return std::shared_ptr<Deferred>(new Deferred(exchange));
    }
    ~Deferred() override {
        if (exchange_)
            exchange_->set_observer(nullptr);
    }
    Deferred(const Deferred&) = delete;
    Deferred& operator=(const Deferred&) = delete;

    // The exchange if the client is still there (nullptr if not), no longer watched: the caller
    // answers it or hands it to a transport that observes it.
    http::Exchange* take() {
        http::Exchange* exchange = exchange_;
        if (exchange)
            exchange->set_observer(nullptr);
        exchange_ = nullptr;
        return exchange;
    }

    // The exchange if the client is still there, still watched.
    http::Exchange* exchange() const { return exchange_; }

    void exchange_aborted() override { exchange_ = nullptr; }

  private:
    explicit Deferred(http::Exchange& exchange) : exchange_(&exchange) {
        exchange.set_observer(this);
    }
    http::Exchange* exchange_;
};

}  // namespace pushrelay::push
