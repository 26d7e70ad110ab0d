// The push_stub_status location: GET answers with the server-wide figures, read from the shared
// segment (so exact whichever worker answers) and formatted by protocol/server_status.h.
#include "protocol/response.h"
#include "protocol/server_status.h"
#include "push/locations.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

constexpr std::string_view kAllowedMethods = "GET";

// Seconds from start to now; 0 if the start was never recorded or the wall clock went back.
uint64_t uptime_seconds(int64_t started_ms, int64_t now_ms) {
    if (started_ms <= 0 || now_ms < started_ms)
        return 0;
    return static_cast<uint64_t>(now_ms - started_ms) / 1000;
}

protocol::ServerStatus server_status(broker::Broker& broker) {
    const broker::Stats stats = broker.stats();
    protocol::ServerStatus status;
    status.channels = stats.channels;
    status.subscribers = stats.subscribers;
    auto held = [&](core::SubscriberKind kind) { return stats.held[static_cast<size_t>(kind)]; };
    status.longpoll_subscribers = held(core::SubscriberKind::LongPoll);
    status.eventsource_subscribers = held(core::SubscriberKind::EventSource);
    status.websocket_subscribers = held(core::SubscriberKind::WebSocket);
    status.chunked_subscribers = held(core::SubscriberKind::Chunked);
    status.multipart_subscribers = held(core::SubscriberKind::Multipart);
    status.grip_response_subscribers = held(core::SubscriberKind::GripResponse);
    status.grip_stream_subscribers = held(core::SubscriberKind::GripStream);
    status.messages = stats.messages;
    status.published = stats.published;
    status.delivered = stats.delivered;
    status.grip_items_published = stats.grip_items;
    status.grip_items_waiting = stats.grip_waiting;
    status.grip_items_duplicate = stats.grip_duplicates;
    status.grip_rerequests = stats.grip_rerequests;
    status.grip_origin_errors = stats.grip_origin_errors;
    status.segment_used = stats.segment_size - stats.segment_free;
    status.segment_total = stats.segment_size;
    status.subscriber_share_used = stats.subscriber_bytes;
    status.subscriber_share_total = stats.subscriber_share;
    status.workers = stats.workers;
    status.connections = stats.connections;
    status.uptime_seconds = uptime_seconds(stats.started_ms, broker.now_ms());
    status.reloads = stats.reloads;
    status.redis_mode = stats.redis_mode;
    const core::RedisFigures& redis = stats.redis;
    status.redis_up = redis.up ? 1 : 0;
    status.redis_channels = redis.channels;
    status.redis_connects = redis.count(core::RedisCounter::Connects);
    status.redis_commands = redis.count(core::RedisCounter::Commands);
    status.redis_errors = redis.count(core::RedisCounter::Errors);
    status.redis_resyncs = redis.count(core::RedisCounter::Resyncs);
    status.redis_recovered = redis.count(core::RedisCounter::Recovered);
    status.cache_hits = redis.count(core::RedisCounter::CacheHits);
    status.cache_misses = redis.count(core::RedisCounter::CacheMisses);
    status.redis_unavailable = redis.count(core::RedisCounter::Unavailable);
    return status;
}

}  // namespace

void handle_status(broker::Broker& broker, http::Exchange& exchange) {
    const protocol::Request& req = exchange.request();
    if (req.method != "GET") {
        respond_text(exchange, 405, protocol::error_body(405, "use GET"),
                     {{"Allow", std::string(kAllowedMethods)}});
        return;
    }
    protocol::StatusFormat format = protocol::choose_status_format(req.header("Accept"), req.query);
    std::vector<protocol::Header> headers{
        {"Content-Type", std::string(protocol::status_content_type(format))}};
    add_cors_headers(exchange.location(), headers);
    exchange.respond(200, headers, protocol::format_server_status(server_status(broker), format));
}

}  // namespace pushrelay::push
