// push/locations.h — the handler of each kind of push location (internal to push/).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "http/connection.h"
#include "push/subscriptions.h"
#include "push/websocket.h"

namespace pushrelay::push {

// push_publisher: POST/PUT publish, GET channel info, DELETE, OPTIONS, and a GET upgraded to a
// WebSocket whose frames publish (push/publisher.cc). `keys`: the channels of the request, at
// least one (several: transports.md "Multiplexing").
void handle_publisher(broker::Broker& broker, WebSockets& websockets, http::Exchange& exchange,
                      const std::vector<std::string>& keys);

// The limits a publish to a channel of a location with `push` gives the channel (and its message).
core::ChannelLimits channel_limits(const conf::PushSettings& push);

// One publish to `keys`, from a POST or a WebSocket frame: the status an HTTP publisher answers
// with (201, 202; 400 for a malformed message/http body or Idempotency-Key, 507 when the segment
// is full, 503 when Redis is unavailable) and its body: the channel info in the format `accept`
// chooses, or the error's text. Absent headers are nullopt.
struct PublishInput {
    std::vector<std::string> keys;
    std::optional<std::string> content_type;
    std::optional<std::string> event;  // X-EventSource-Event
    std::optional<std::string> accept;
    std::optional<std::string> idempotency_key;
    std::string body;
};
struct PublishReply {
    int status = 0;
    std::string content_type;
    std::string body;
    std::vector<protocol::Header> headers;  // beyond Content-Type (Retry-After)
};
// Publishes to each channel in turn and calls `done` once with the reply (at once in memory
// mode, after Redis answered in Redis mode). `location` must outlive the call.
void publish_message(broker::Broker& broker, const conf::Location& location, PublishInput input,
                     std::function<void(PublishReply&&)> done);

// push_subscriber: GET answers from the queue, holds (long-poll) or answers 304 (interval-poll;
// and every subscriber once the worker is `stopping`), OPTIONS (push/subscriber.cc).
// `keys` as for handle_publisher (several: one multiplexed subscription, push/multiplex.h).
void handle_subscriber(broker::Broker& broker, Subscriptions& subscriptions, WebSockets& websockets,
                       bool stopping, http::Exchange& exchange,
                       const std::vector<std::string>& keys);

// push_stub_status: GET answers with the server-wide figures (push/status.cc).
void handle_status(broker::Broker& broker, http::Exchange& exchange);

}  // namespace pushrelay::push
