// push/locations.h — the handler of each kind of push location (internal to push/).
#pragma once

#include <string>
#include <vector>

#include "broker/broker.h"
#include "http/connection.h"
#include "push/subscriptions.h"

namespace pushrelay::push {

// push_publisher: POST/PUT publish, GET channel info, DELETE, OPTIONS (push/publisher.cc).
// `keys`: the channels of the request, at least one (several: transports.md "Multiplexing").
void handle_publisher(broker::Broker& broker, http::Exchange& exchange,
                      const std::vector<std::string>& keys);

// push_subscriber: GET answers from the queue, holds (long-poll) or answers 304 (interval-poll;
// and every subscriber once the worker is `stopping`), OPTIONS (push/subscriber.cc).
// `keys` as for handle_publisher (several: one multiplexed subscription, push/multiplex.h).
void handle_subscriber(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                       http::Exchange& exchange, const std::vector<std::string>& keys);

// push_stub_status: GET answers with the server-wide figures (push/status.cc).
void handle_status(broker::Broker& broker, http::Exchange& exchange);

}  // namespace pushrelay::push
