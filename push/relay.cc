#include "push/relay.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "http/request_vars.h"
#include "protocol/response.h"
#include "push/locations.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

// transports.md "Multiplexing": Nchan's limit on the channels of one request.
constexpr std::size_t kMaxChannels = 255;

// Runs the location's `set` directives in order and returns the channel id values: those of
// push_channel_id if the location has it, else $push_channel_id (alias $push_id); "" when unset.
std::vector<std::string> evaluate_channel_ids(const http::Exchange& exchange) {
    const conf::Location& location = exchange.location();
    conf::RequestVars vars = http::request_vars(exchange);
    conf::SetVariables variables(location.sets, vars);
    if (location.channel_ids.empty())
        return {std::string(variables.find("push_channel_id").value_or(""))};
    vars.variable = [&variables](std::string_view name) { return variables.find(name); };
    std::vector<std::string> values;
    for (const conf::Template& value : location.channel_ids) values.push_back(value.expand(vars));
    return values;
}

// Appends the pieces of `value` split on `delimiter` ("": the value whole). Empty pieces stay:
// each names the channel with the empty id, as in Nchan (doc/decisions.md).
void split_into(std::string_view value, std::string_view delimiter, std::vector<std::string>* out) {
    if (delimiter.empty()) {
        out->emplace_back(value);
        return;
    }
    for (;;) {
        const std::size_t at = value.find(delimiter);
        out->emplace_back(value.substr(0, at));
        if (at == std::string_view::npos)
            return;
        value.remove_prefix(at + delimiter.size());
    }
}

// The channel keys of a request, or the 400 that refuses them (false).
bool channel_keys(http::Exchange& exchange, std::vector<std::string>* keys) {
    const conf::PushSettings& push = exchange.location().push;
    std::vector<std::string> ids;
    for (const std::string& value : evaluate_channel_ids(exchange)) {
        if (value.empty()) {
            respond_text(exchange, 400, "No channel id provided.");
            return false;
        }
        // Before splitting, as Nchan.
        if (value.size() > push.max_channel_id_length) {
            respond_text(exchange, 400,
                         "Channel id is longer than push_max_channel_id_length (" +
                             std::to_string(push.max_channel_id_length) + ").");
            return false;
        }
        split_into(value, push.channel_id_split_delimiter, &ids);
        if (ids.size() > kMaxChannels) {
            respond_text(exchange, 400, "Too many channels.");
            return false;
        }
    }
    // A channel named twice is one channel: each member of a multiplexed subscription must
    // have a channel of its own (push/multiplex.h). O(n^2) over at most 255 ids.
    for (const std::string& id : ids) {
        std::string key = push.channel_group + "/" + id;
        if (std::find(keys->begin(), keys->end(), key) == keys->end())
            keys->push_back(std::move(key));
    }
    return true;
}

}  // namespace

Relay::Relay(broker::Broker& broker, struct ev_loop* loop)
    : broker_(broker),
      grip_(broker, subscriptions_, loop),  // keeps the reference only
      subscriptions_(broker, loop),
      websockets_(broker, loop),
      grip_publisher_(broker, loop) {
    broker_.set_listener(&subscriptions_);
    subscriptions_.set_grip_recover_hook([this] { grip_.refresh_holds(); });
}

Relay::~Relay() {
    broker_.set_listener(nullptr);
}

void Relay::stop(Shutdown why) {
    stopping_ = true;
    Ending ending = why == Shutdown::Restart ? Ending::Restarting : Ending::Stopping;
    grip_.stop();
    subscriptions_.stop_all(ending);
    websockets_.stop(ending);
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
    if (location.push.role == conf::Role::GripProxy) {
        grip_.handle(exchange);
        return;
    }
    if (location.push.role == conf::Role::GripPublish) {
        grip_publisher_.handle(exchange);  // the channels are in the body, not the request
        return;
    }
    std::vector<std::string> keys;
    if (exchange.request().method == "OPTIONS")
        keys.push_back(location.push.channel_group + "/");  // a preflight names no channel
    else if (!channel_keys(exchange, &keys))
        return;
    if (location.push.role == conf::Role::Publisher) {
        handle_publisher(broker_, websockets_, exchange, keys);
    } else {
        handle_subscriber(broker_, subscriptions_, websockets_, stopping_, exchange, keys);
    }
}

}  // namespace pushrelay::push
