// The publisher location: POST/PUT store and fan out a message, GET reports
// the channel, DELETE removes it (its held subscribers get 410).
#include <algorithm>
#include <memory>
#include <variant>

#include "core/log.h"
#include "protocol/channel_info.h"
#include "protocol/message_http.h"
#include "protocol/response.h"
#include "push/deferred.h"
#include "push/locations.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

constexpr std::string_view kAllowedMethods = "GET, POST, PUT, DELETE, OPTIONS";
// scale-out.md: an Idempotency-Key longer than this is refused (400).
constexpr std::size_t kMaxIdempotencyKey = 128;
// scale-out.md "Requests": a client told Redis is unavailable retries after this many seconds.
constexpr std::string_view kRedisRetryAfterSeconds = "1";

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

// 503 for a request that needed Redis (scale-out.md "Requests, with and without Redis").
void respond_unavailable(http::Exchange& exchange, std::string_view error) {
    respond_text(exchange, 503, "Redis unavailable: " + std::string(error) + "\n",
                 {{"Retry-After", std::string(kRedisRetryAfterSeconds)}});
}

// The channel info answered for several channels (transports.md leaves it open,
// doc/decisions.md): messages and subscribers summed, `requested` the most recent.
void add_info(core::ChannelInfo& total, const core::ChannelInfo& info) {
    total.messages += info.messages;
    total.subscribers += info.subscribers;
    total.last_requested_ms = std::max(total.last_requested_ms, info.last_requested_ms);
}

std::optional<std::string> header_copy(const protocol::Request& req, std::string_view name) {
    const std::string* value = req.header(name);
    return value ? std::optional<std::string>(*value) : std::nullopt;
}

void publish(broker::Broker& broker, http::Exchange& exchange,
             const std::vector<std::string>& keys) {
    const protocol::Request& req = exchange.request();
    PublishInput input{keys,
                       header_copy(req, "Content-Type"),
                       header_copy(req, "X-EventSource-Event"),
                       header_copy(req, "Accept"),
                       header_copy(req, "Idempotency-Key"),
                       req.body};
    std::shared_ptr<Deferred> deferred = Deferred::watch(exchange);
    publish_message(
        broker, exchange.location(), std::move(input), [deferred](PublishReply&& reply) {
            http::Exchange* exchange = deferred->take();
            if (!exchange)
                return;
            reply.headers.insert(reply.headers.begin(), {"Content-Type", reply.content_type});
            add_cors_headers(exchange->location(), reply.headers);
            exchange->respond(reply.status, reply.headers, std::move(reply.body));
        });
}

// Several channels: each deleted in turn; 404 only when none existed.
struct DeleteJob {
    broker::Broker& broker;
    std::shared_ptr<Deferred> deferred;
    std::vector<std::string> keys;
    std::size_t next = 0;
    bool found = false;
    core::ChannelInfo total;
};

void delete_next(std::shared_ptr<DeleteJob> job) {
    if (job->next == job->keys.size()) {
        http::Exchange* exchange = job->deferred->take();
        if (!exchange)
            return;
        if (!job->found)
            return respond_empty(*exchange, 404);
        return respond_info(job->broker, *exchange, 200, job->total);
    }
    const std::string& key = job->keys[job->next++];
    job->broker.delete_then(key, [job](broker::DeleteResult&& result) {
        if (result.status == core::Status::Unavailable) {
            if (http::Exchange* exchange = job->deferred->take())
                respond_unavailable(*exchange, result.error);
            return;
        }
        if (result.status != core::Status::NotFound) {
            job->found = true;
            add_info(job->total, result.info);
        }
        delete_next(job);
    });
}

void delete_channel(broker::Broker& broker, http::Exchange& exchange,
                    const std::vector<std::string>& keys) {
    delete_next(std::make_shared<DeleteJob>(
        DeleteJob{broker, Deferred::watch(exchange), keys, 0, false, {}}));
}

void channel_info(broker::Broker& broker, http::Exchange& exchange, const std::string& key) {
    std::shared_ptr<Deferred> deferred = Deferred::watch(exchange);
    broker.info_then(key, [&broker, deferred](broker::InfoResult&& result) {
        http::Exchange* exchange = deferred->take();
        if (!exchange)
            return;
        if (result.status == core::Status::Unavailable)
            return respond_unavailable(*exchange, result.error);
        if (result.status == core::Status::NotFound)
            return respond_empty(*exchange, 404);
        respond_info(broker, *exchange, 200, result.info);
    });
}

// One publish_message() in progress: the channels left, and what the ones done said.
struct PublishJob {
    broker::Broker& broker;
    const conf::Location& location;
    PublishInput input;
    std::function<void(PublishReply&&)> done;
    std::size_t next = 0;
    bool had_waiters = false;
    core::ChannelInfo total;
};

PublishReply refusal(const broker::PublishResult& result, std::string_view key) {
    if (result.status == core::Status::Unavailable) {
        return {503,
                "text/plain",
                "Redis unavailable: " + result.error + "\n",
                {{"Retry-After", std::string(kRedisRetryAfterSeconds)}}};
    }
    LOG_ERROR("publish to \"%s\" refused: the shared segment is full (push_max_reserved_memory)",
              log::escape(key).c_str());
    return {507,
            "text/plain",
            "507 Insufficient Storage: the shared segment is full; the message was not "
            "stored. Retry once messages expire or channels are deleted.\n",
            {}};
}

// An absent header as the empty view (value_or("") would view a temporary).
std::string_view view_of(const std::optional<std::string>& header) {
    return header ? std::string_view(*header) : std::string_view();
}

// One copy in each channel, each with its own id. A refusal stops at that channel: the copies
// before it stay (they may have been delivered already).
void publish_next(std::shared_ptr<PublishJob> job) {
    PublishInput& in = job->input;
    if (job->next == in.keys.size()) {
        PublishReply reply;
        reply.status = job->had_waiters ? 201 : 202;
        reply.body = info_body(job->broker, in.accept ? &*in.accept : nullptr, job->total,
                               &reply.content_type);
        return job->done(std::move(reply));
    }
    const std::string& key = in.keys[job->next++];
    broker::PublishCall call{
        key,     view_of(in.content_type),           view_of(in.event),
        in.body, channel_limits(job->location.push), view_of(in.idempotency_key)};
    job->broker.publish_then(call, [job, &key](broker::PublishResult&& result) {
        if (result.status != core::Status::Ok)
            return job->done(refusal(result, key));
        job->had_waiters = job->had_waiters || result.had_waiters;
        add_info(job->total, result.info);
        publish_next(job);
    });
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

void publish_message(broker::Broker& broker, const conf::Location& location, PublishInput input,
                     std::function<void(PublishReply&&)> done) {
    if (input.content_type && protocol::is_message_http(*input.content_type)) {
        auto parsed = protocol::parse_message_http(input.body);
        if (auto* err = std::get_if<std::string>(&parsed))
            return done({400, "text/plain", "Malformed message/http body: " + *err + "\n", {}});
    }
    if (input.idempotency_key &&
        (input.idempotency_key->empty() || input.idempotency_key->size() > kMaxIdempotencyKey)) {
        return done(
            {400, "text/plain", "400 Bad Request: Idempotency-Key must be 1 to 128 bytes.\n", {}});
    }
    publish_next(std::make_shared<PublishJob>(
        PublishJob{broker, location, std::move(input), std::move(done), 0, false, {}}));
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
