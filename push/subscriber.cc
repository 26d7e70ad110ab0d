// The subscriber location: answer with the next message after the client's
// Last-Modified/Etag, or hold the request (long-poll) until one is published,
// or answer 304 at once (interval-poll).
#include "protocol/message_id.h"
#include "protocol/response.h"
#include "push/delivery.h"
#include "push/locations.h"
#include "push/long_poll.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

constexpr std::string_view kAllowedMethods = "GET, OPTIONS";

// Seconds a subscriber refused for the subscriber share is told to wait. The share frees as
// held subscribers leave (their channels go with them) or publishers adopt their channels, on
// the time scale of client reconnects: long enough that a flood backs off, short enough that a
// legitimate client caught in it soon gets in.
constexpr std::string_view kShareRetryAfterSeconds = "5";

bool header_has_no_cache(const protocol::Request& req, std::string_view name) {
    const std::string* value = req.header(name);
    return value && value->find("no-cache") != std::string::npos;
}

broker::Concurrency concurrency_of(conf::Concurrency c) {
    switch (c) {
        case conf::Concurrency::First:
            return broker::Concurrency::First;
        case conf::Concurrency::Last:
            return broker::Concurrency::Last;
        case conf::Concurrency::Broadcast:
            break;
    }
    return broker::Concurrency::Broadcast;
}

// Answers a request the broker refused; false if it was not refused.
bool respond_refusal(http::Exchange& exchange, core::Status status) {
    switch (status) {
        case core::Status::Ok:
            return false;
        case core::Status::Forbidden:
            respond_text(exchange, 403, "403 Forbidden: no such channel.\n");
            break;
        case core::Status::TooManySubscribers:
            respond_text(exchange, 403,
                         "403 Forbidden: the channel has push_max_channel_subscribers already.\n");
            break;
        case core::Status::Conflict:
            respond_text(exchange, 409,
                         "409 Conflict: another subscriber waits on this channel.\n");
            break;
        case core::Status::NoSpace:
            respond_text(exchange, 507, "507 Insufficient Storage: the shared segment is full.\n");
            break;
        case core::Status::SubscriberShareFull:
            respond_text(exchange, 503,
                         "503 Service Unavailable: channels created by subscribers fill their "
                         "share of the shared segment (push_max_subscriber_memory); retry later "
                         "or subscribe to a channel that has been published to.\n",
                         {{"Retry-After", std::string(kShareRetryAfterSeconds)}});
            break;
        default:
            respond_text(exchange, 500, protocol::error_body(500, core::describe(status)));
            break;
    }
    return true;
}

void subscribe(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
               http::Exchange& exchange, const std::string& key) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    bool no_cache = push.ignore_queue_on_no_cache && (header_has_no_cache(req, "Cache-Control") ||
                                                      header_has_no_cache(req, "Pragma"));
    core::ChannelLimits limits;
    limits.channel_timeout_ms = push.channel_timeout.count();
    broker::SubscribeResult result =
        broker.subscribe({.key = key,
                          .since = protocol::parse_message_id(req.header("If-Modified-Since"),
                                                              req.header("If-None-Match")),
                          .wait_for_new = no_cache,
                          .create_channel = !push.authorized_channels_only,
                          .wait = push.mode == conf::SubscriberMode::LongPoll && !stopping,
                          .max_subscribers = push.max_channel_subscribers,
                          .concurrency = concurrency_of(push.concurrency),
                          .limits_if_created = limits});
    if (respond_refusal(exchange, result.status))
        return;
    if (result.message) {
        Payload payload = make_payload(*result.message);
        DeliveryHeads heads(payload);
        respond_with_payload(exchange, payload, heads);
    } else if (result.waiting) {
        // Everything published after registration is for this waiter, whatever its own ids
        // said (a client clock ahead of ours must not make it wait forever).
        subscriptions.add(std::make_unique<LongPoll>(exchange), result.channel, result.waiter_seq,
                          result.resume_after, push.subscriber_timeout);
    } else {
        respond_not_modified(exchange);
    }
}

}  // namespace

void handle_subscriber(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                       http::Exchange& exchange, const std::string& key) {
    const std::string& method = exchange.request().method;
    if (method == "GET") {
        subscribe(broker, subscriptions, stopping, exchange, key);
    } else if (method == "OPTIONS") {
        respond_preflight(exchange, kAllowedMethods,
                          "If-None-Match, If-Modified-Since, Cache-Control, Origin");
    } else {
        respond_text(exchange, 405, protocol::error_body(405, "use GET"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::push
