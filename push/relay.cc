#include "push/relay.h"

#include "http/request_vars.h"
#include "protocol/response.h"
#include "push/locations.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

// Runs the location's `set` directives in order and returns the channel id they give
// ($push_channel_id, alias $push_id); empty when unset.
std::string evaluate_channel_id(const http::Exchange& exchange) {
    conf::SetVariables variables(exchange.location().sets, http::request_vars(exchange));
    return std::string(variables.find("push_channel_id").value_or(""));
}

}  // namespace

Relay::Relay(broker::Broker& broker, struct ev_loop* loop)
    : broker_(broker), subscriptions_(broker, loop) {
    broker_.set_listener(&subscriptions_);
}

Relay::~Relay() {
    broker_.set_listener(nullptr);
}

void Relay::stop(Shutdown why) {
    stopping_ = true;
    subscriptions_.stop_all(why == Shutdown::Restart ? Ending::Restarting : Ending::Stopping);
}

void Relay::handle(http::Exchange& exchange) {
    const conf::Location& location = exchange.location();
    if (location.push.role == conf::Role::None) {
        respond_text(exchange, 404, protocol::error_body(404, "no publisher or subscriber here"));
        return;
    }
    if (location.push.role == conf::Role::Status) {
        handle_status(broker_, exchange);
        return;
    }
    std::string id = evaluate_channel_id(exchange);
    if (exchange.request().method != "OPTIONS") {
        if (id.empty()) {
            respond_text(exchange, 400, "No channel id provided.");
            return;
        }
        if (id.size() > location.push.max_channel_id_length) {
            respond_text(exchange, 400,
                         "Channel id is longer than push_max_channel_id_length (" +
                             std::to_string(location.push.max_channel_id_length) + ").");
            return;
        }
    }
    std::string key = location.push.channel_group + "/" + id;
    if (location.push.role == conf::Role::Publisher) {
        handle_publisher(broker_, exchange, key);
    } else {
        handle_subscriber(broker_, subscriptions_, stopping_, exchange, key);
    }
}

}  // namespace pushrelay::push
