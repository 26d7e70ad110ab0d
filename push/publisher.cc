// The publisher location: POST/PUT store and fan out a message, GET reports
// the channel, DELETE removes it (its held subscribers get 410).
#include <algorithm>
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

// The channel info body, in the format `accept` chooses (protocol.md), and its media type.
std::string info_body(broker::Broker& broker, const std::string* accept,
                      const core::ChannelInfo& info, std::string* content_type) {
    protocol::InfoType type = protocol::choose_info_type(accept);
    protocol::ChannelInfo body{
        info.messages,
        info.last_requested_ms < 0 ? -1 : (broker.now_ms() - info.last_requested_ms) / 1000,
        info.subscribers};
    *content_type = type.content_type;
    return protocol::format_channel_info(body, type.format);
}

void respond_info(broker::Broker& broker, http::Exchange& exchange, int status,
                  const core::ChannelInfo& info) {
    std::string content_type;
    std::string body = info_body(broker, exchange.request().header("Accept"), info, &content_type);
    std::vector<protocol::Header> headers{{"Content-Type", content_type}};
    add_cors_headers(exchange.location(), headers);
    exchange.respond(status, headers, std::move(body));
}

// The channel info answered for several channels (transports.md leaves it open,
// doc/decisions.md): messages and subscribers summed, `requested` the most recent.
void add_info(core::ChannelInfo& total, const core::ChannelInfo& info) {
    total.messages += info.messages;
    total.subscribers += info.subscribers;
    total.last_requested_ms = std::max(total.last_requested_ms, info.last_requested_ms);
}

void publish(broker::Broker& broker, http::Exchange& exchange,
             const std::vector<std::string>& keys) {
    const protocol::Request& req = exchange.request();
    PublishReply reply =
        publish_message(broker, exchange.location(), keys, req.header("Content-Type"),
                        req.header("X-EventSource-Event"), req.body, req.header("Accept"));
    std::vector<protocol::Header> headers{{"Content-Type", reply.content_type}};
    add_cors_headers(exchange.location(), headers);
    exchange.respond(reply.status, headers, std::move(reply.body));
}

// Several channels: each deleted; 404 only when none existed.
void delete_channel(broker::Broker& broker, http::Exchange& exchange,
                    const std::vector<std::string>& keys) {
    bool found = false;
    core::ChannelInfo total;
    for (const std::string& key : keys) {
        auto result = broker.delete_channel(key);
        if (result.status == core::Status::NotFound)
            continue;
        found = true;
        add_info(total, result.info);
    }
    if (!found) {
        respond_empty(exchange, 404);
        return;
    }
    respond_info(broker, exchange, 200, total);
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

core::ChannelLimits channel_limits(const conf::PushSettings& push) {
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

PublishReply publish_message(broker::Broker& broker, const conf::Location& location,
                             const std::vector<std::string>& keys, const std::string* content_type,
                             const std::string* event, std::string_view body,
                             const std::string* accept) {
    if (content_type && protocol::is_message_http(*content_type)) {
        auto parsed = protocol::parse_message_http(body);
        if (auto* err = std::get_if<std::string>(&parsed))
            return {400, "text/plain", "Malformed message/http body: " + *err + "\n"};
    }
    // One copy in each channel, each with its own id. A full segment stops at that channel:
    // the copies before it stay (they may have been delivered already).
    bool had_waiters = false;
    core::ChannelInfo total;
    for (const std::string& key : keys) {
        auto result = broker.publish(key, content_type ? *content_type : "", event ? *event : "",
                                     body, channel_limits(location.push));
        if (result.status == core::Status::NoSpace) {
            LOG_ERROR(
                "publish to \"%s\" refused: the shared segment is full "
                "(push_max_reserved_memory)",
                log::escape(key).c_str());
            return {507, "text/plain",
                    "507 Insufficient Storage: the shared segment is full; the message was not "
                    "stored. Retry once messages expire or channels are deleted.\n"};
        }
        had_waiters = had_waiters || result.had_waiters;
        add_info(total, result.info);
    }
    PublishReply reply;
    reply.status = had_waiters ? 201 : 202;
    reply.body = info_body(broker, accept, total, &reply.content_type);
    return reply;
}

// Transport selection row 1 on a publisher: WebSocket publishing if the location takes it, else
// 403. A websocket-only publisher refuses plain HTTP the same way (decisions.md).
void handle_publisher(broker::Broker& broker, WebSockets& websockets, http::Exchange& exchange,
                      const std::vector<std::string>& keys) {
    const protocol::Request& req = exchange.request();
    const std::string& method = req.method;
    const std::uint8_t by = exchange.location().push.publish_by;
    if (ws::is_upgrade_request(req)) {
        if (!(by & conf::kPublishWebSocket))
            return respond_empty(exchange, 403);
        auto handshake = ws::check_handshake(req);
        if (auto* refused = std::get_if<ws::Refused>(&handshake))
            return respond_text(exchange, refused->status, refused->body);
        return websockets.open_publisher(exchange, std::get<ws::Accepted>(handshake), keys);
    }
    if (!(by & conf::kPublishHttp)) {
        respond_empty(exchange, 403);
    } else if (method == "POST" || method == "PUT") {
        publish(broker, exchange, keys);
    } else if (method == "GET") {
        // transports.md "Multiplexing": no channel info for several channels.
        if (keys.size() > 1)
            respond_empty(exchange, 404);
        else
            channel_info(broker, exchange, keys.front());
    } else if (method == "DELETE") {
        delete_channel(broker, exchange, keys);
    } else if (method == "OPTIONS") {
        respond_preflight(exchange, kAllowedMethods, "Content-Type, Origin");
    } else {
        respond_text(exchange, 405, protocol::error_body(405, "use GET, POST, PUT or DELETE"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::push
