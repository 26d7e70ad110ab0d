// The publisher location: POST/PUT store and fan out a message, GET reports
// the channel, DELETE removes it (its held subscribers get 410).
#include <variant>

#include "core/log.h"
#include "protocol/channel_info.h"
#include "protocol/message_http.h"
#include "protocol/response.h"
#include "push/locations.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

constexpr std::string_view kAllowedMethods = "GET, POST, PUT, DELETE, OPTIONS";

core::ChannelLimits limits_of(const conf::PushSettings& push) {
    core::ChannelLimits limits;
    limits.min_buffer = push.min_buffer;
    limits.max_buffer = push.max_buffer;
    limits.message_timeout_ms = push.message_timeout.count();
    limits.min_recipients = push.min_recipients;
    limits.delete_oldest_received = push.delete_oldest_received;
    limits.channel_timeout_ms = push.channel_timeout.count();
    limits.store_messages = push.store_messages;
    return limits;
}

void respond_info(broker::Broker& broker, http::Exchange& exchange, int status,
                  const core::ChannelInfo& info) {
    protocol::InfoType type = protocol::choose_info_type(exchange.request().header("Accept"));
    protocol::ChannelInfo body{
        info.messages,
        info.last_requested_ms < 0 ? -1 : (broker.now_ms() - info.last_requested_ms) / 1000,
        info.subscribers};
    std::vector<protocol::Header> headers{{"Content-Type", type.content_type}};
    add_cors_headers(exchange.location(), headers);
    exchange.respond(status, headers, protocol::format_channel_info(body, type.format));
}

void publish(broker::Broker& broker, http::Exchange& exchange, const std::string& key) {
    const protocol::Request& req = exchange.request();
    const std::string* content_type = req.header("Content-Type");
    if (content_type && protocol::is_message_http(*content_type)) {
        auto parsed = protocol::parse_message_http(req.body);
        if (auto* err = std::get_if<std::string>(&parsed)) {
            respond_text(exchange, 400, "Malformed message/http body: " + *err + "\n");
            return;
        }
    }
    const std::string* event = req.header("X-EventSource-Event");
    auto result = broker.publish(key, content_type ? *content_type : "", event ? *event : "",
                                 req.body, limits_of(exchange.location().push));
    if (result.status == core::Status::NoSpace) {
        LOG_ERROR(
            "publish to \"%s\" refused: the shared segment is full (push_max_reserved_memory)",
            log::escape(key).c_str());
        respond_text(exchange, 507,
                     "507 Insufficient Storage: the shared segment is full; the message was not "
                     "stored. Retry once messages expire or channels are deleted.\n");
        return;
    }
    respond_info(broker, exchange, result.had_waiters ? 201 : 202, result.info);
}

void delete_channel(broker::Broker& broker, http::Exchange& exchange, const std::string& key) {
    auto result = broker.delete_channel(key);
    if (result.status == core::Status::NotFound) {
        respond_empty(exchange, 404);
        return;
    }
    respond_info(broker, exchange, 200, result.info);
}

void channel_info(broker::Broker& broker, http::Exchange& exchange, const std::string& key) {
    auto info = broker.info(key);
    if (!info) {
        respond_empty(exchange, 404);
        return;
    }
    respond_info(broker, exchange, 200, *info);
}

}  // namespace

void handle_publisher(broker::Broker& broker, http::Exchange& exchange, const std::string& key) {
    const std::string& method = exchange.request().method;
    if (method == "POST" || method == "PUT") {
        publish(broker, exchange, key);
    } else if (method == "GET") {
        channel_info(broker, exchange, key);
    } else if (method == "DELETE") {
        delete_channel(broker, exchange, key);
    } else if (method == "OPTIONS") {
        respond_preflight(exchange, kAllowedMethods, "Content-Type, Origin");
    } else {
        respond_text(exchange, 405, protocol::error_body(405, "use GET, POST, PUT or DELETE"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::push
