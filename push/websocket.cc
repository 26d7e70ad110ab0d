#include "push/websocket.h"

#include <optional>

#include "core/peer_address.h"
#include "push/locations.h"
#include "ws/frame.h"
#include "ws/session.h"

namespace pushrelay::push {
namespace {

// A subscriber's frames are refused (1008) at their header; this only bounds what wslay would
// buffer of a control frame's neighbour.
constexpr std::uint64_t kSubscriberMaxMessage = 64 * 1024;
// client_max_body_size 0 means no limit for HTTP; a WebSocket message is held whole in memory,
// so it still gets one.
constexpr std::uint64_t kUnlimitedMaxMessage = std::uint64_t{64} << 20;

}  // namespace

CloseFrame close_frame_for(Ending why) {
    switch (why) {
        case Ending::Deleted:
            return {ws::kGoingAway, "410 Gone"};
        case Ending::TimedOut:
            return {ws::kNormal, "408 Request Timeout"};
        case Ending::Stopping:
            return {ws::kGoingAway, "Going Away"};
        case Ending::Restarting:
            return {ws::kServiceRestart, "Service Restart"};
        case Ending::Kicked:
            // A `last` subscriber took the channel: long-poll says 409 Conflict.
            return {ws::kPolicyViolation, "409 Conflict"};
        case Ending::Delivered:
        case Ending::Resynced:
        case Ending::ClientGone:
            break;
    }
    return {0, {}};
}

std::string websocket_payload(const Payload& payload, bool meta) {
    const std::string empty;
    const std::string& body = payload.body ? *payload.body : empty;
    if (!meta)
        return body;
    std::string out = "id: " + id_of(payload) + "\n";
    if (!payload.content_type.empty())
        out += "content-type: " + payload.content_type + "\n";
    out += "\n";
    out += body;
    return out;
}

core::SharedBytes websocket_frame(const Payload& payload, bool meta) {
    std::string_view body = payload.body ? std::string_view(*payload.body) : std::string_view();
    bool binary = payload.content_type == "application/octet-stream" || !ws::valid_utf8(body);
    return ws::shared_frame(binary ? ws::Opcode::Binary : ws::Opcode::Text,
                            websocket_payload(payload, meta));
}

class WebSocketSubscriber;

// One upgraded connection: its session (once the 101 is written) and what it serves.
class Endpoint final : public ws::SessionObserver {
  public:
    Endpoint(WebSockets& owner, ws::SessionOptions options, bool meta)
        : owner_(owner), options_(options), meta_(meta) {}
    ~Endpoint() override { *alive_ = false; }
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    // The 101 is written: the session starts with what was queued before it. `on_end` gives
    // back what the request held (a limit_conn count) when the session ends.
    void attach(core::UniqueFd socket, std::string unread_input, std::string peer,
                std::function<void()> on_end) {
        on_end_ = std::move(on_end);
        session_ =
            std::make_unique<ws::Session>(owner_.loop(), std::move(socket), std::move(unread_input),
                                          options_, *this, std::move(peer));
        session_->start();
        for (core::SharedBytes& frame : pending_) session_->send(std::move(frame));
        pending_.clear();
        if (pending_close_)
            session_->close(pending_close_->code, pending_close_->reason);
    }
    // The connection closed before the 101 was out.
    void abandon() { end(); }

    void send(core::SharedBytes frame) {
        if (session_) {
            session_->send(std::move(frame));
        } else if (!pending_close_) {
            pending_.push_back(std::move(frame));  // the session's bound applies on attach
        }
    }
    void close(CloseFrame frame) {
        if (session_)
            session_->close(frame.code, frame.reason);
        else if (!pending_close_)
            pending_close_ = frame;
    }

    bool meta() const { return meta_; }
    std::size_t index = 0;  // in WebSockets::open_
    WebSocketSubscriber* subscriber = nullptr;
    // A publisher's: the channels, the location, and the handshake's Content-Type and Accept.
    std::vector<std::string> keys;
    const conf::Location* location = nullptr;
    std::optional<std::string> content_type, accept;

  private:
    void message_received(ws::Session& session, ws::Opcode opcode,
                          std::string_view payload) override;
    void session_closed(ws::Session&) override { end(); }
    // Ends its subscription (ClientGone), then itself: the registry forgets and destroys it.
    void end();

    WebSockets& owner_;
    ws::SessionOptions options_;
    bool meta_;
    std::unique_ptr<ws::Session> session_;
    std::vector<core::SharedBytes> pending_;  // before the 101 is written
    std::optional<CloseFrame> pending_close_;
    std::function<void()> on_end_;  // run by end(); not when the worker's registry goes
    // False once destroyed: a publish answered after the client left finds nobody to tell.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A WebSocket subscriber: one frame per message on its endpoint's session.
class WebSocketSubscriber final : public Subscription {
  public:
    explicit WebSocketSubscriber(Endpoint& endpoint) : endpoint_(&endpoint) {
        endpoint.subscriber = this;
    }
    ~WebSocketSubscriber() override {
        if (endpoint_)
            endpoint_->subscriber = nullptr;
    }

    bool one_shot() const override { return false; }
    core::SubscriberKind kind() const override { return core::SubscriberKind::WebSocket; }

    // The frame is built by the first WebSocket subscriber of the message that needs that
    // variant and shared by the rest (ten thousand subscribers, one buffer).
    void deliver(const Payload& payload, DeliveryHeads& heads) override {
        if (!endpoint_)
            return;
        bool meta = endpoint_->meta();
        http::SharedBytes& frame =
            heads.stream_frame(meta ? kWebSocketMetaFrameSlot : kWebSocketFrameSlot);
        if (!frame)
            frame = websocket_frame(payload, meta);
        endpoint_->send(frame);
    }

    void finish(Ending why) override {
        CloseFrame frame = close_frame_for(why);
        if (endpoint_ && frame.code != 0)
            endpoint_->close(frame);
    }

    // The endpoint's session is over: the subscription ends (ClientGone).
    void endpoint_gone() {
        endpoint_ = nullptr;
        client_gone();
    }
    // The endpoint is destroyed with the worker; Subscriptions ends this later.
    void detach() { endpoint_ = nullptr; }

  private:
    Endpoint* endpoint_;
};

void Endpoint::message_received(ws::Session& session, ws::Opcode opcode, std::string_view payload) {
    // Only publishers accept messages (a subscriber's session refuses them with 1008).
    std::optional<std::string> type = content_type;
    if (opcode == ws::Opcode::Binary)
        type = "application/octet-stream";
    PublishInput input{keys,   std::move(type), std::nullopt,
                       accept, std::nullopt,    std::string(payload)};
    // Replies go out in publish order: the broker answers its publishes in the order made.
    publish_message(owner_.broker(), *location, std::move(input),
                    [this, alive = alive_, &session](PublishReply&& reply) {
                        if (*alive && session_.get() == &session)
                            session.send(ws::shared_frame(ws::Opcode::Text, reply.body));
                    });
}

void Endpoint::end() {
    if (WebSocketSubscriber* s = std::exchange(subscriber, nullptr))
        s->endpoint_gone();
    if (std::function<void()> done = std::exchange(on_end_, nullptr))
        done();
    owner_.remove(this);  // destroys this: nothing after it
}

// ---- WebSockets ----

WebSockets::WebSockets(broker::Broker& broker, struct ev_loop* loop)
    : broker_(broker), loop_(loop) {}

WebSockets::~WebSockets() {
    // Subscriptions may outlive this (the Relay's members go in reverse order): detach them.
    for (auto& e : open_) {
        if (WebSocketSubscriber* s = std::exchange(e->subscriber, nullptr))
            s->detach();
    }
}

Endpoint& WebSockets::add(std::unique_ptr<Endpoint> endpoint) {
    endpoint->index = open_.size();
    open_.push_back(std::move(endpoint));
    if (count_changed_)
        count_changed_();
    return *open_.back();
}

void WebSockets::remove(Endpoint* endpoint) {
    std::size_t i = endpoint->index;
    if (i >= open_.size() || open_[i].get() != endpoint)
        return;
    std::unique_ptr<Endpoint> gone = std::move(open_[i]);
    if (i + 1 != open_.size()) {
        open_[i] = std::move(open_.back());
        open_[i]->index = i;
    }
    open_.pop_back();
    gone.reset();
    if (count_changed_)
        count_changed_();
}

namespace {

// Runs when the connection gives the socket over, or (destroyed unused) tells the endpoint that
// the client left before the 101 was written.
struct Handoff {
    explicit Handoff(Endpoint* e) : endpoint(e) {}
    Handoff(const Handoff&) = delete;
    Handoff& operator=(const Handoff&) = delete;
    Endpoint* endpoint;
    bool taken = false;
    ~Handoff() {
        if (!taken)
            endpoint->abandon();
    }
};

}  // namespace

void WebSockets::upgrade(http::Exchange& exchange, const ws::Accepted& accepted,
                         Endpoint& endpoint) {
    auto handoff = std::make_shared<Handoff>(&endpoint);
    std::string peer = core::peer_address(exchange.peer());
    exchange.upgrade(
        std::make_shared<const std::string>(ws::response_head(accepted)),
        [handoff, peer](core::UniqueFd socket, std::string unread, std::function<void()> on_end) {
            handoff->taken = true;
            handoff->endpoint->attach(std::move(socket), std::move(unread), peer,
                                      std::move(on_end));
        });
}

std::unique_ptr<Subscription> WebSockets::open_subscriber(http::Exchange& exchange,
                                                          const ws::Accepted& accepted) {
    ws::SessionOptions options;
    options.max_unsent_bytes = exchange.location().push.max_unsent_bytes;
    options.ping_interval = exchange.location().push.websocket_ping_interval.count() / 1000.0;
    options.max_message_length = kSubscriberMaxMessage;
    options.accept_messages = false;
    Endpoint& endpoint = add(std::make_unique<Endpoint>(*this, options, accepted.meta));
    auto subscription = std::make_unique<WebSocketSubscriber>(endpoint);
    upgrade(exchange, accepted, endpoint);
    return subscription;
}

void WebSockets::open_publisher(http::Exchange& exchange, const ws::Accepted& accepted,
                                const std::vector<std::string>& keys) {
    const conf::Location& location = exchange.location();
    ws::SessionOptions options;
    options.max_unsent_bytes = location.push.max_unsent_bytes;
    options.ping_interval = location.push.websocket_ping_interval.count() / 1000.0;
    options.max_message_length = location.http.client_max_body_size
                                     ? location.http.client_max_body_size
                                     : kUnlimitedMaxMessage;
    options.accept_messages = true;
    Endpoint& endpoint = add(std::make_unique<Endpoint>(*this, options, false));
    endpoint.keys = keys;
    endpoint.location = &location;
    const protocol::Request& req = exchange.request();
    if (const std::string* type = req.header("Content-Type"))
        endpoint.content_type = *type;
    if (const std::string* accept = req.header("Accept"))
        endpoint.accept = *accept;
    upgrade(exchange, accepted, endpoint);
    if (stopping_ != Ending::ClientGone)
        endpoint.close(close_frame_for(stopping_));
}

void WebSockets::stop(Ending why) {
    stopping_ = why;
    CloseFrame frame = close_frame_for(why);
    for (auto& e : open_) {
        if (!e->subscriber)
            e->close(frame);
    }
}

}  // namespace pushrelay::push
