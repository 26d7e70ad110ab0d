// The subscriber location: answer with the next message after the client's
// Last-Modified/Etag, or hold the request (long-poll) until one is published,
// or answer 304 at once (interval-poll).
#include "protocol/message_id.h"
#include "protocol/response.h"
#include "worker/core.h"
#include "worker/delivery.h"
#include "worker/handlers.h"

namespace pushrelay::worker {
namespace {

constexpr std::string_view kAllowedMethods = "GET, OPTIONS";

bool header_has_no_cache(const protocol::Request& req, std::string_view name) {
    const std::string* value = req.header(name);
    return value && value->find("no-cache") != std::string::npos;
}

shm::Store::Concurrency concurrency_of(conf::Concurrency c) {
    switch (c) {
        case conf::Concurrency::First:
            return shm::Store::Concurrency::First;
        case conf::Concurrency::Last:
            return shm::Store::Concurrency::Last;
        case conf::Concurrency::Broadcast:
            break;
    }
    return shm::Store::Concurrency::Broadcast;
}

void respond_with_message(Worker& worker, Connection& connection, shm::MessagePin& pin) {
    Payload payload = make_payload(worker.store().view(pin));
    worker.store().unpin(pin);
    DeliveryHeads heads(payload);
    respond_with_payload(connection, payload, heads);
}

void subscribe(Worker& worker, Connection& connection, const std::string& key) {
    const protocol::Request& req = connection.request();
    const conf::PushSettings& push = connection.location().push;
    bool no_cache = push.ignore_queue_on_no_cache && (header_has_no_cache(req, "Cache-Control") ||
                                                      header_has_no_cache(req, "Pragma"));
    shm::ChannelLimits limits;
    limits.channel_timeout_ms = push.channel_timeout.count();
    shm::Store::SubscribeRequest request{
        .key = key,
        .since = protocol::parse_message_id(req.header("If-Modified-Since"),
                                            req.header("If-None-Match")),
        .wait_for_new = no_cache,
        .create_channel = !push.authorized_channels_only,
        .hold = push.mode == conf::SubscriberMode::LongPoll && !worker.shutting_down(),
        .max_subscribers = push.max_channel_subscribers,
        .concurrency = concurrency_of(push.concurrency),
        .slot = worker.slot(),
        .limits_if_created = limits,
        .now_ms = worker.now_ms()};
    shm::Store::SubscribeResult result = worker.store().subscribe(request);
    switch (result.status) {
        case shm::Status::Ok:
            break;
        case shm::Status::Forbidden:
            respond_text(connection, 403, "403 Forbidden: no such channel.\n");
            return;
        case shm::Status::TooManySubscribers:
            respond_text(connection, 403,
                         "403 Forbidden: the channel has push_max_channel_subscribers already.\n");
            return;
        case shm::Status::Conflict:
            respond_text(connection, 409,
                         "409 Conflict: another subscriber waits on this channel.\n");
            return;
        case shm::Status::NoSpace:
            respond_text(connection, 507,
                         "507 Insufficient Storage: the shared segment is full.\n");
            return;
        default:
            respond_text(connection, 500, protocol::error_body(500, shm::describe(result.status)));
            return;
    }
    worker.wake(result.kick_slots_mask);
    if (result.message) {
        respond_with_message(worker, connection, result.message);
    } else if (result.held) {
        // Everything published after registration is for this waiter, whatever its own
        // ids said (a client clock ahead of ours must not make it wait forever).
        connection.hold(Hold{result.uid, key, result.waiter_seq, result.resume_after, {}});
    } else {
        respond_not_modified(connection);
    }
}

}  // namespace

void handle_subscriber(Worker& worker, Connection& connection, const std::string& key) {
    const std::string& method = connection.request().method;
    if (method == "GET") {
        subscribe(worker, connection, key);
    } else if (method == "OPTIONS") {
        respond_preflight(connection, kAllowedMethods,
                          "If-None-Match, If-Modified-Since, Cache-Control, Origin");
    } else {
        respond_text(connection, 405, protocol::error_body(405, "use GET"),
                     {{"Allow", std::string(kAllowedMethods)}});
    }
}

}  // namespace pushrelay::worker
