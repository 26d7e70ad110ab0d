// The publisher location: POST/PUT store and fan out a message, GET reports
// the channel, DELETE removes it (its held subscribers get 410).
#include <variant>

#include "core/log.h"
#include "protocol/channel_info.h"
#include "protocol/message_http.h"
#include "protocol/response.h"
#include "worker/core.h"
#include "worker/handlers.h"

namespace pushrelay::worker {
namespace {

constexpr std::string_view kAllowedMethods = "GET, POST, PUT, DELETE, OPTIONS";

shm::ChannelLimits limits_of(const conf::PushSettings& push) {
    shm::ChannelLimits limits;
    limits.min_buffer = push.min_buffer;
    limits.max_buffer = push.max_buffer;
    limits.message_timeout_ms = push.message_timeout.count();
    limits.min_recipients = push.min_recipients;
    limits.delete_oldest_received = push.delete_oldest_received;
    limits.channel_timeout_ms = push.channel_timeout.count();
    limits.store_messages = push.store_messages;
    return limits;
}

void respond_info(Worker& worker, Connection& connection, int status,
                  const shm::ChannelInfo& info) {
    protocol::InfoType type = protocol::choose_info_type(connection.request().header("Accept"));
    protocol::ChannelInfo body{
        info.messages,
        info.last_requested_ms < 0 ? -1 : (worker.now_ms() - info.last_requested_ms) / 1000,
        info.subscribers};
    std::vector<protocol::Header> headers{{"Content-Type", type.content_type}};
    add_cors_headers(connection.location(), headers);
    connection.respond(status, headers, protocol::format_channel_info(body, type.format));
}

void publish(Worker& worker, Connection& connection, const std::string& key) {
    const protocol::Request& req = connection.request();
    const std::string* content_type = req.header("Content-Type");
    if (content_type && protocol::is_message_http(*content_type)) {
        auto parsed = protocol::parse_message_http(req.body);
        if (auto* err = std::get_if<std::string>(&parsed)) {
            respond_text(connection, 400, "Malformed message/http body: " + *err + "\n");
            return;
        }
    }
    auto result = worker.store().publish(key, content_type ? *content_type : "", req.body,
                                         limits_of(connection.location().push), worker.now_ms());
    if (result.status == shm::Status::NoSpace) {
        LOG_ERROR(
            "publish to \"%s\" refused: the shared segment is full (push_max_reserved_memory)",
            log::escape(key).c_str());
        respond_text(connection, 507,
                     "507 Insufficient Storage: the shared segment is full; the message was not "
                     "stored. Retry once messages expire or channels are deleted.\n");
        return;
    }
    worker.wake(result.wake_slots_mask);
    respond_info(worker, connection, result.wake_slots_mask ? 201 : 202, result.info);
}

void delete_channel(Worker& worker, Connection& connection, const std::string& key) {
    auto result = worker.store().delete_channel(key, worker.now_ms());
    if (result.status == shm::Status::NotFound) {
        respond_empty(connection, 404);
        return;
    }
    worker.wake(result.wake_slots_mask);
    respond_info(worker, connection, 200, result.info);
}

void channel_info(Worker& worker, Connection& connection, const std::string& key) {
    auto info = worker.store().info(key, worker.now_ms());
    if (!info) {
        respond_empty(connection, 404);
        return;
    }
    respond_info(worker, connection, 200, *info);
}

}  // namespace

void handle_publisher(Worker& worker, Connection& connection, const std::string& key) {
    const std::string& method = connection.request().method;
    if (method == "POST" || method == "PUT") {
        publish(worker, connection, key);
    } else if (method == "GET") {
        channel_info(worker, connection, key);
    } else if (method == "DELETE") {
        delete_channel(worker, connection, key);
    } else if (method == "OPTIONS") {
        respond_preflight(connection, kAllowedMethods, "Content-Type, Origin");
    } else {
        respond_text(connection, 405, protocol::error_body(405, "use GET, POST, PUT or DELETE"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::worker
