// The subscriber location: answer with the next message after the client's
// Last-Modified/Etag, or hold the request (long-poll) until one is published,
// or answer 304 at once (interval-poll).
#include "protocol/message_id.h"
#include "protocol/query.h"
#include "protocol/response.h"
#include "push/deferred.h"
#include "push/delivery.h"
#include "push/locations.h"
#include "push/long_poll.h"
#include "push/multiplex.h"
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

// Percent-decodes %3A / %3a (and any other %XX) of a query value; a malformed escape leaves the
// value as it came (it then fails as a message id).
std::string query_value(std::string_view text) {
    std::string out;
    if (!protocol::percent_decode(text, out))
        out = text;
    return out;
}

// The message a subscriber names, every transport (transports.md "Message id", rules 1-5), as
// the id list it was written as (one tag, or a multiplexed list). False: a value with `:` that
// does not parse (400).
bool named_id(const protocol::Request& req, std::optional<protocol::IdList>* named) {
    const std::string* ims = req.header("If-Modified-Since");
    const std::string* inm = req.header("If-None-Match");
    if (ims) {
        *named = protocol::id_list_from_headers(ims, inm);
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
            candidates.push_back(query_value(*arg));
    }
    for (const std::string& value : candidates) {
        if (value.find(':') == std::string::npos)
            continue;
        *named = protocol::parse_id_list(value);
        return named->has_value();
    }
    return true;
}

// named_id() for a single channel.
bool named_message(const protocol::Request& req, std::optional<core::MessageId>* since) {
    std::optional<protocol::IdList> named;
    if (!named_id(req, &named))
        return false;
    if (named)
        *since = protocol::resume_point(*named, 0, 1);
    return true;
}

// What every subscribe of a location asks the broker, whatever the transport; the caller sets
// the key, the starting point (`since`) and how it waits (`wait`, `persistent`).
broker::SubscribeRequest subscribe_request(const conf::PushSettings& push, bool wait_for_new) {
    core::ChannelLimits limits;
    limits.channel_timeout_ms = push.channel_timeout.count();
    return {.key = {},
            .since = std::nullopt,
            .wait_for_new = wait_for_new,
            .first_message = push.first_message,
            .create_channel = !push.authorized_channels_only,
            .wait = true,
            .persistent = false,
            .max_subscribers = push.max_channel_subscribers,
            .concurrency = concurrency_of(push.concurrency),
            .limits_if_created = limits};
}

// The transport of a GET (transports.md "Transport selection"); Forbidden: 403.
enum class Served : std::uint8_t { Poll, WebSocket, EventSource, Chunked, Multipart, Forbidden };

// What opening a transport needs beyond the exchange: the WebSocket registry, and the checked
// handshake when the request is an upgrade (row 1).
struct Opener {
    WebSockets& websockets;
    std::optional<ws::Accepted> accepted;
};

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

// The transport a held subscriber is served by; nullptr for Forbidden. A stream's head (or the
// 101) is sent at once.
std::unique_ptr<Subscription> make_transport(Served served, http::Exchange& exchange,
                                             const Opener& opener) {
    switch (served) {
        case Served::Poll:
            return std::make_unique<LongPoll>(exchange);
        case Served::WebSocket:
            return opener.websockets.open_subscriber(exchange, *opener.accepted);
        case Served::EventSource:
            return std::make_unique<Stream>(exchange, StreamKind::EventSource);
        case Served::Chunked:
            return std::make_unique<Stream>(exchange, StreamKind::Chunked);
        case Served::Multipart:
            return std::make_unique<Stream>(exchange, StreamKind::Multipart);
        case Served::Forbidden:
            break;
    }
    return nullptr;
}

// One channel, a persistent transport (`served`: a stream or a WebSocket).
void subscribe_stream(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                      http::Exchange& exchange, const std::string& key, Served served,
                      const Opener& opener) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    std::optional<core::MessageId> since;
    if (!named_message(req, &since)) {
        respond_text(exchange, 400, "Message ID invalid");
        return;
    }
    broker::SubscribeRequest request = subscribe_request(push, !since && push.first_message == 0);
    request.key = key;
    request.since = since;
    request.persistent = true;
    broker::SubscribeResult result = broker.subscribe(request);
    if (respond_refusal(exchange, result.status))
        return;
    if (!result.waiting) {  // not created (authorized_channels_only has its own refusal)
        respond_text(exchange, 403, "403 Forbidden: no such channel.\n");
        return;
    }
    std::unique_ptr<Subscription> stream = make_transport(served, exchange, opener);
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

bool no_cache_requested(const protocol::Request& req, const conf::PushSettings& push) {
    return push.ignore_queue_on_no_cache &&
           (header_has_no_cache(req, "Cache-Control") || header_has_no_cache(req, "Pragma"));
}

// Several channels on one request (transports.md "Multiplexing"): one broker registration per
// channel, all or none; then either one answer at once (interval-poll, or a long-poll while the
// worker stops: the oldest match, else 304) or a Multiplex that holds every channel.
void subscribe_multiplexed(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                           http::Exchange& exchange, const std::vector<std::string>& keys,
                           Served served, const Opener& opener) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    std::optional<protocol::IdList> named;
    if (!named_id(req, &named)) {
        respond_text(exchange, 400, "Message ID invalid");
        return;
    }
    const bool poll = served == Served::Poll;
    const bool held = !poll || (!(push.transports & conf::kTransportIntervalPoll) && !stopping);
    broker::SubscribeRequest request = subscribe_request(
        push, (poll && no_cache_requested(req, push)) || (!named && push.first_message == 0));
    request.wait = held;
    // Registered even with a match, so that every channel is held until the merged backlog is
    // sent (a one-shot ends them all after its one message).
    request.persistent = held;
    std::vector<broker::SubscribeResult> results;
    results.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        request.key = keys[i];
        request.since =
            named ? std::optional(protocol::resume_point(*named, i, keys.size())) : std::nullopt;
        broker::SubscribeResult result = broker.subscribe(request);
        if (result.status != core::Status::Ok || (held && !result.waiting)) {
            for (const broker::SubscribeResult& r : results) {
                if (r.waiting)
                    broker.unsubscribe(r.channel, 1);
            }
            if (!respond_refusal(exchange, result.status))
                respond_text(exchange, 403, "403 Forbidden: no such channel.\n");
            return;
        }
        results.push_back(std::move(result));
    }
    std::vector<std::optional<broker::Message>> first;
    first.reserve(results.size());
    for (broker::SubscribeResult& result : results) first.push_back(std::move(result.message));
    if (!held) {
        const std::size_t pick = oldest_of(first);
        if (pick == first.size())
            return respond_not_modified(exchange);
        Payload payload = make_payload(*first[pick]);
        payload.tags = protocol::MultiplexedIds(keys.size(), named).next(pick, payload.id);
        DeliveryHeads heads(payload);
        return respond_with_payload(exchange, payload, heads);
    }
    std::shared_ptr<Multiplex> multiplex = Multiplex::create(
        subscriptions, make_transport(served, exchange, opener), keys.size(), named);
    for (std::size_t i = 0; i < results.size(); ++i) {
        // One timeout for the whole: the first member's ending ends the rest.
        subscriptions.add(multiplex->member(i), results[i].channel, results[i].waiter_seq,
                          results[i].resume_after,
                          i == 0 ? push.subscriber_timeout : conf::Millis(0));
    }
    if (multiplex->catch_up(std::move(first)) && stopping)
        multiplex->stop();
}

// Once the broker can answer every channel of the request (prepare_next()): the subscription.
void subscribe_prepared(broker::Broker& broker, Subscriptions& subscriptions, bool stopping,
                        http::Exchange& exchange, const std::vector<std::string>& keys,
                        Served served, const Opener& opener) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    if (keys.size() > 1)
        return subscribe_multiplexed(broker, subscriptions, stopping, exchange, keys, served,
                                     opener);
    const std::string& key = keys.front();
    if (served != Served::Poll)
        return subscribe_stream(broker, subscriptions, stopping, exchange, key, served, opener);
    const bool no_cache = no_cache_requested(req, push);
    std::optional<core::MessageId> since;
    if (!named_message(req, &since)) {
        respond_text(exchange, 400, "Message ID invalid");
        return;
    }
    broker::SubscribeRequest request =
        subscribe_request(push, no_cache || (!since && push.first_message == 0));
    request.key = key;
    request.since = since;
    // Transport selection row 5: interval-poll, when listed, wins over long-poll.
    request.wait = !(push.transports & conf::kTransportIntervalPoll) && !stopping;
    broker::SubscribeResult result = broker.subscribe(request);
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

// The channels a request subscribes to, made ready in the broker one after the other (Redis mode:
// the node's cache must hold them), then subscribe_prepared(); 503 if Redis is needed and down.
struct Preparation {
    broker::Broker& broker;
    Subscriptions& subscriptions;
    bool stopping;
    std::shared_ptr<Deferred> deferred;
    std::vector<std::string> keys;
    std::optional<protocol::IdList> named;
    Served served;
    Opener opener;
    std::size_t next = 0;
};

void prepare_next(std::shared_ptr<Preparation> job) {
    if (job->next == job->keys.size()) {
        if (http::Exchange* exchange = job->deferred->take())
            subscribe_prepared(job->broker, job->subscriptions, job->stopping, *exchange, job->keys,
                               job->served, job->opener);
        return;
    }
    const std::size_t i = job->next++;
    http::Exchange* exchange = job->deferred->exchange();
    if (!exchange)
        return;
    const conf::PushSettings& push = exchange->location().push;
    core::ChannelLimits limits;
    limits.channel_timeout_ms = push.channel_timeout.count();
    broker::PrepareRequest request{
        job->keys[i],
        job->named ? std::optional(protocol::resume_point(*job->named, i, job->keys.size()))
                   : std::nullopt,
        !push.authorized_channels_only, concurrency_of(push.concurrency), limits};
    job->broker.prepare_subscribe(request, [job](broker::Prepared&& prepared) {
        if (prepared.status == core::Status::Ok)
            return prepare_next(job);
        http::Exchange* exchange = job->deferred->take();
        if (!exchange)
            return;
        if (prepared.status == core::Status::Unavailable)
            respond_text(*exchange, 503, "Redis unavailable: " + prepared.error + "\n",
                         {{"Retry-After", "1"}});
        else
            respond_refusal(*exchange, prepared.status);
    });
}

void subscribe(broker::Broker& broker, Subscriptions& subscriptions, WebSockets& websockets,
               bool stopping, http::Exchange& exchange, const std::vector<std::string>& keys) {
    const protocol::Request& req = exchange.request();
    const conf::PushSettings& push = exchange.location().push;
    const Served served = select_transport(req, push.transports);
    if (served == Served::Forbidden)
        return respond_empty(exchange, 403);
    Opener opener{websockets, std::nullopt};
    if (served == Served::WebSocket) {
        // Handshake errors are plain HTTP, before the broker is asked anything.
        auto handshake = ws::check_handshake(req);
        if (auto* refused = std::get_if<ws::Refused>(&handshake))
            return respond_text(exchange, refused->status, refused->body);
        opener.accepted = std::get<ws::Accepted>(handshake);
    }
    std::optional<protocol::IdList> named;
    if (!named_id(req, &named))
        return respond_text(exchange, 400, "Message ID invalid");
    prepare_next(std::make_shared<Preparation>(Preparation{broker, subscriptions, stopping,
                                                           Deferred::watch(exchange), keys,
                                                           std::move(named), served, opener}));
}

}  // namespace

void handle_subscriber(broker::Broker& broker, Subscriptions& subscriptions, WebSockets& websockets,
                       bool stopping, http::Exchange& exchange,
                       const std::vector<std::string>& keys) {
    const std::string& method = exchange.request().method;
    if (method == "GET") {
        subscribe(broker, subscriptions, websockets, stopping, exchange, keys);
    } else if (method == "OPTIONS") {
        respond_preflight(exchange, kAllowedMethods,
                          "If-None-Match, If-Modified-Since, Cache-Control, Origin, Etag");
    } else {
        respond_text(exchange, 405, protocol::error_body(405, "use GET"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::push
