// push/locations.h — the handler of each kind of push location (internal to push/).
#pragma once

#include <string>

#include "broker/broker.h"
#include "http/connection.h"
#include "push/subscriptions.h"

namespace pushrelay::push {

// push_publisher: POST/PUT publish, GET channel info, DELETE, OPTIONS (push/publisher.cc).
void handle_publisher(broker::Broker& broker, http::Exchange& exchange, const std::string& key);

// push_subscriber: GET answers from the queue, holds (long-poll) or answers 304 (interval-poll;
// and every subscriber once the worker is `stopping`), OPTIONS (push/subscriber.cc).
void handle_subscriber(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                       http::Exchange& exchange, const std::string& key);

// push_stub_status: GET answers with the server-wide figures (push/status.cc).
void handle_status(broker::Broker& broker, http::Exchange& exchange);

}  // namespace pushrelay::push
