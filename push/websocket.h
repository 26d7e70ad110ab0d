// push/websocket.h — the WebSocket transport of the push locations (transports.md "WebSocket",
// "Publishing by WebSocket", "Stream end"): subscribers that get one frame per message, and
// publishers whose every frame is one publish.
//
// WebSockets owns every upgraded connection of one worker process: a ws::Session each, and what
// it serves. It owns them rather than Subscriptions because a connection outlives its
// subscription: when the subscription ends (its channel deleted, its timeout, a stop) the
// session still runs its closing handshake. It counts them for the worker (the accept balancing,
// and a stopping worker exits once none is left) and closes the publishers' on a stop or reload
// (the subscribers' close through Subscriptions, with the same codes).
//
// The wire (handshake, frames, pings, close) is ws/'s; this module decides what a frame holds
// and what a client frame means. Single-threaded: every call comes from the loop's callbacks.
#pragma once

#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker.h"
#include "http/connection.h"
#include "push/subscriptions.h"
#include "ws/handshake.h"

namespace pushrelay::push {

// The close a WebSocket subscription gets for each Ending (transports.md "Stream end"); code 0:
// none (the client is gone, or the subscription goes on).
struct CloseFrame {
    std::uint16_t code;
    std::string_view reason;
};
CloseFrame close_frame_for(Ending why);

// The payload of a message's frame: the body, or with ws+meta.nchan
// `id: <time>:<tag>\n[content-type: <ct>\n]\n<body>`.
std::string websocket_payload(const Payload& payload, bool meta);
// The whole frame: binary when Content-Type is exactly application/octet-stream or the body is
// not UTF-8, text otherwise.
core::SharedBytes websocket_frame(const Payload& payload, bool meta);

class Endpoint;

class WebSockets {
  public:
    WebSockets(broker::Broker& broker, struct ev_loop* loop);
    // Closes every socket left, telling nobody (the worker is exiting).
    ~WebSockets();
    WebSockets(const WebSockets&) = delete;
    WebSockets& operator=(const WebSockets&) = delete;

    // Told after every change of size() (the worker adds it to its open connections).
    void set_count_listener(std::function<void()> listener) {
        count_changed_ = std::move(listener);
    }
    // Upgraded connections open, including those whose 101 is still being written.
    std::size_t size() const { return open_.size(); }

    // Answers `exchange` with the 101 and returns the subscription to add to Subscriptions; the
    // messages it is given before the 101 is written are queued behind it.
    std::unique_ptr<Subscription> open_subscriber(http::Exchange& exchange,
                                                  const ws::Accepted& accepted);
    // Answers `exchange` with the 101; every text or binary frame the client sends is then one
    // publish to `keys` (several: a copy in each, as a POST), answered with one text frame.
    // Publishers opened while the worker stops close at once with the stop's code.
    void open_publisher(http::Exchange& exchange, const ws::Accepted& accepted,
                        const std::vector<std::string>& keys);

    // A graceful stop or a reload: the publishers' sessions close with `why`'s code (Stopping:
    // 1001, Restarting: 1012), now and for any opened later.
    void stop(Ending why);

    // For Endpoint.
    void remove(Endpoint* endpoint);
    broker::Broker& broker() { return broker_; }
    struct ev_loop* loop() const {
        return loop_;
    }

  private:
    Endpoint& add(std::unique_ptr<Endpoint> endpoint);
    void upgrade(http::Exchange& exchange, const ws::Accepted& accepted, Endpoint& endpoint);

    broker::Broker& broker_;
    struct ev_loop* loop_;
    std::vector<std::unique_ptr<Endpoint>> open_;  // an endpoint knows its index
    std::function<void()> count_changed_;
    Ending stopping_ = Ending::ClientGone;  // ClientGone: not stopping
};

}  // namespace pushrelay::push
