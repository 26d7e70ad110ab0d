// push/relay.h — the push semantics of one worker: what the push module's locations do with a
// request, on top of http/ and a broker.
//
// The Relay is the http::Handler of a worker's connections. It routes each exchange by its
// location's role: publisher (POST/PUT store and fan out, GET reports, DELETE removes),
// subscriber (answer from the queue, hold, or 304), push_stub_status, push_grip_publish (its
// GripPublisher), or 404. Held subscribers
// live in its Subscriptions, which receive the broker's events.
#pragma once

#include <ev.h>

#include <cstdint>

#include "broker/broker.h"
#include "http/connection.h"
#include "push/grip_proxy.h"
#include "push/grip_publish.h"
#include "push/subscriptions.h"
#include "push/websocket.h"

namespace pushrelay::push {

// Why a worker stops: streams tell their clients (WebSocket close 1001 or 1012).
enum class Shutdown : std::uint8_t {
    Stop,     // QUIT: the server goes away
    Restart,  // a reload retires this worker: a fresh one serves the client's reconnect
};

class Relay final : public http::Handler {
  public:
    // Becomes `broker`'s listener; both outlive nothing of each other's: destroy the Relay first.
    Relay(broker::Broker& broker, struct ev_loop* loop);
    ~Relay() override;

    void handle(http::Exchange& exchange) override;

    // A graceful stop: held subscribers get 304 (they poll another worker), and subscribers that
    // arrive from now on are answered at once instead of held.
    void stop(Shutdown why);

    const Subscriptions& subscriptions() const { return subscriptions_; }
    const GripProxy& grip() const { return grip_; }
    // The upgraded connections (they left http::Connections): the worker counts them as open,
    // and is told when their number changes.
    std::size_t websocket_count() const { return websockets_.size(); }
    void set_websocket_count_listener(std::function<void()> listener) {
        websockets_.set_count_listener(std::move(listener));
    }

  private:
    broker::Broker& broker_;
    // Before subscriptions_: the holds it ends on destruction count themselves in its figures.
    GripProxy grip_;
    Subscriptions subscriptions_;
    WebSockets websockets_;  // after subscriptions_: destroyed first, it detaches its subscribers
    GripPublisher grip_publisher_;
    bool stopping_ = false;
};

}  // namespace pushrelay::push
