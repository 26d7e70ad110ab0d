// The subscriber location: answer with the next message after the client's
// Last-Modified/Etag, or hold the request (long-poll) until one is published,
// or answer 304 at once (interval-poll).
#include "protocol/message_id.h"
#include "protocol/query.h"
#include "protocol/response.h"
#include "push/delivery.h"
#include "push/locations.h"
#include "push/long_poll.h"
#include "push/responses.h"
#include "push/stream.h"
#include "push/websocket.h"

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

// `<time>:<tag>`, or a multiplexed `<time>:<t1>,...,<tn>` whose one bracketed tag is this
// channel's; a tag `-` means the first message at time >= <time>. nullopt if it does not parse
// (time not a number, more than one `[...]`, several tags without one `[...]`).
std::optional<core::MessageId> parse_compound_id(std::string_view text) {
    std::size_t colon = text.find(':');
    std::string_view time = text.substr(0, colon);
    std::string_view tags = text.substr(colon + 1);
    auto number = [](std::string_view digits, std::uint64_t max) -> std::optional<std::uint64_t> {
        if (digits.empty() || digits.size() > 19)
            return std::nullopt;
        std::uint64_t v = 0;
        for (char c : digits) {
            if (c < '0' || c > '9')
                return std::nullopt;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (v > max)
            return std::nullopt;
        return v;
    };
    std::optional<std::uint64_t> t = number(time, static_cast<std::uint64_t>(INT64_MAX));
    if (!t)
        return std::nullopt;
    std::string_view tag = tags;
    if (tags.find(',') != std::string_view::npos || tags.find('[') != std::string_view::npos) {
        std::size_t open = tags.find('[');
        if (open == std::string_view::npos || tags.find('[', open + 1) != std::string_view::npos)
            return std::nullopt;
        std::size_t close = tags.find(']', open);
        if (close == std::string_view::npos)
            return std::nullopt;
        tag = tags.substr(open + 1, close - open - 1);
    }
    if (tag == "-") {
        if (*t == 0)
            return core::MessageId{0, 0};
        return core::MessageId{static_cast<std::int64_t>(*t) - 1, UINT32_MAX};
    }
    std::optional<std::uint64_t> g = number(tag, UINT32_MAX);
    if (!g)
        return std::nullopt;
    return core::MessageId{static_cast<std::int64_t>(*t), static_cast<std::uint32_t>(*g)};
}

// Percent-decodes %3A / %3a (and any other %XX) of a query value.
std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9')
                return c - '0';
            if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
            if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
            return -1;
        };
        if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 &&
            hex(text[i + 2]) >= 0) {
            out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// The message a subscriber names, every transport (transports.md "Message id", rules 1-5). False: a
// value with `:` that does not parse (400).
bool named_message(const protocol::Request& req, std::optional<core::MessageId>* since) {
    const std::string* ims = req.header("If-Modified-Since");
    const std::string* inm = req.header("If-None-Match");
    if (ims) {
        *since = protocol::parse_message_id(ims, inm);
        return true;
    }
    std::vector<std::string> candidates;
    if (inm) {
        if (inm->find(':') == std::string::npos)
            return true;  // names no message
        candidates.push_back(*inm);
    } else {
        if (const std::string* etag = req.header("Etag"))
            candidates.push_back(*etag);
        if (const std::string* last = req.header("Last-Event-ID"))
            candidates.push_back(*last);
        if (auto arg = protocol::query_argument(req.query, "last_event_id"))
            candidates.push_back(percent_decode(*arg));
    }
    for (const std::string& value : candidates) {
        if (value.find(':') == std::string::npos)
            continue;
        std::optional<core::MessageId> id = parse_compound_id(value);
        if (!id)
            return false;
        *since = id;
        return true;
    }
    return true;
}

// Opens the transport of a persistent subscription once the broker accepted it: begins the
// response (or the upgrade) and returns the subscription.
using OpenStream = std::function<std::unique_ptr<Subscription>(http::Exchange&)>;

void subscribe_stream(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                      http::Exchange& exchange, const std::string& key, const OpenStream& open) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    std::optional<core::MessageId> since;
    if (!named_message(req, &since)) {
        respond_text(exchange, 400, "Message ID invalid");
        return;
    }
    core::ChannelLimits limits;
    limits.channel_timeout_ms = push.channel_timeout.count();
    broker::SubscribeResult result =
        broker.subscribe({.key = key,
                          .since = since,
                          .wait_for_new = !since && push.first_message == 0,
                          .first_message = push.first_message,
                          .create_channel = !push.authorized_channels_only,
                          .wait = true,
                          .persistent = true,
                          .max_subscribers = push.max_channel_subscribers,
                          .concurrency = concurrency_of(push.concurrency),
                          .limits_if_created = limits});
    if (respond_refusal(exchange, result.status))
        return;
    if (!result.waiting) {  // not created (authorized_channels_only has its own refusal)
        respond_text(exchange, 403, "403 Forbidden: no such channel.\n");
        return;
    }
    std::unique_ptr<Subscription> stream = open(exchange);
    Subscription& subscription = *stream;
    core::MessageId start = result.resume_after;
    if (result.message) {
        start = result.message->id;
        Payload payload = make_payload(*result.message);
        DeliveryHeads heads(payload);
        subscription.deliver(payload, heads);
    }
    // Registered first, so that every way it ends from here goes through Subscriptions (which
    // gives the waiter back); then the rest of what is stored, as a resync brings it.
    subscriptions.add(std::move(stream), result.channel, result.waiter_seq, start,
                      push.subscriber_timeout);
    if (subscriptions.catch_up(subscription) && stopping)
        subscriptions.stop(subscription);
}

// The transport of a GET (transports.md "Transport selection"); Forbidden: 403.
enum class Served : std::uint8_t { Poll, WebSocket, EventSource, Chunked, Multipart, Forbidden };

bool te_lists_chunked(const std::string* te) {
    if (!te)
        return false;
    std::string_view rest = *te;
    while (!rest.empty()) {
        std::size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        std::size_t semi = item.find(';');
        std::string_view token = item.substr(0, semi);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
            token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
            token.remove_suffix(1);
        if (!protocol::iequals(token, "chunked"))
            continue;
        if (semi == std::string_view::npos)
            return true;
        std::string_view params = item.substr(semi + 1);
        std::size_t q = params.find("q=");
        if (q == std::string_view::npos)
            q = params.find("Q=");
        if (q == std::string_view::npos)
            return true;
        std::string_view value = params.substr(q + 2);
        // q > 0: any non-zero digit in the value.
        for (char c : value) {
            if (c >= '1' && c <= '9')
                return true;
            if (c != '0' && c != '.')
                break;
        }
        return false;
    }
    return false;
}

Served select_transport(const protocol::Request& req, std::uint8_t transports) {
    // Row 1: an upgrade is a WebSocket or nothing (a subscriber location publishes nothing).
    if (ws::is_upgrade_request(req))
        return (transports & conf::kTransportWebSocket) ? Served::WebSocket : Served::Forbidden;
    const std::string* accept = req.header("Accept");
    if ((transports & conf::kTransportEventSource) && accept &&
        accept->find("text/event-stream") != std::string::npos)
        return Served::EventSource;
    if ((transports & conf::kTransportChunked) && te_lists_chunked(req.header("TE")))
        return Served::Chunked;
    if ((transports & conf::kTransportMultipart) && accept &&
        accept->find("multipart/mixed") != std::string::npos)
        return Served::Multipart;
    if (transports & (conf::kTransportIntervalPoll | conf::kTransportLongPoll))
        return Served::Poll;
    return Served::Forbidden;
}

void subscribe(broker::Broker& broker, Subscriptions& subscriptions, WebSockets& websockets,
               bool stopping, http::Exchange& exchange, const std::string& key) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    auto stream_of = [](StreamKind kind) -> OpenStream {
        return [kind](http::Exchange& ex) { return std::make_unique<Stream>(ex, kind); };
    };
    switch (select_transport(req, push.transports)) {
        case Served::Poll:
            break;
        case Served::WebSocket: {
            // Handshake errors are plain HTTP, before the broker is asked anything.
            auto handshake = ws::check_handshake(req);
            if (auto* refused = std::get_if<ws::Refused>(&handshake))
                return respond_text(exchange, refused->status, refused->body);
            ws::Accepted accepted = std::get<ws::Accepted>(handshake);
            return subscribe_stream(
                broker, subscriptions, stopping, exchange, key,
                [&](http::Exchange& ex) { return websockets.open_subscriber(ex, accepted); });
        }
        case Served::EventSource:
            return subscribe_stream(broker, subscriptions, stopping, exchange, key,
                                    stream_of(StreamKind::EventSource));
        case Served::Chunked:
            return subscribe_stream(broker, subscriptions, stopping, exchange, key,
                                    stream_of(StreamKind::Chunked));
        case Served::Multipart:
            return subscribe_stream(broker, subscriptions, stopping, exchange, key,
                                    stream_of(StreamKind::Multipart));
        case Served::Forbidden:
            return respond_empty(exchange, 403);
    }
    bool no_cache = push.ignore_queue_on_no_cache && (header_has_no_cache(req, "Cache-Control") ||
                                                      header_has_no_cache(req, "Pragma"));
    core::ChannelLimits limits;
    limits.channel_timeout_ms = push.channel_timeout.count();
    std::optional<core::MessageId> since;
    if (!named_message(req, &since)) {
        respond_text(exchange, 400, "Message ID invalid");
        return;
    }
    broker::SubscribeResult result = broker.subscribe(
        {.key = key,
         .since = since,
         .wait_for_new = no_cache || (!since && push.first_message == 0),
         .first_message = push.first_message,
         .create_channel = !push.authorized_channels_only,
         // Transport selection row 5: interval-poll, when listed, wins over long-poll.
         .wait = !(push.transports & conf::kTransportIntervalPoll) && !stopping,
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

void handle_subscriber(broker::Broker& broker, Subscriptions& subscriptions, WebSockets& websockets,
                       bool stopping, http::Exchange& exchange, const std::string& key) {
    const std::string& method = exchange.request().method;
    if (method == "GET") {
        subscribe(broker, subscriptions, websockets, stopping, exchange, key);
    } else if (method == "OPTIONS") {
        respond_preflight(exchange, kAllowedMethods,
                          "If-None-Match, If-Modified-Since, Cache-Control, Origin, Etag");
    } else {
        respond_text(exchange, 405, protocol::error_body(405, "use GET"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::push
