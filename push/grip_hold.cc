#include "push/grip_hold.h"

#include <strings.h>

#include "core/log.h"
#include "grip/headers.h"
#include "grip/item.h"
#include "protocol/response.h"

namespace pushrelay::push {

void drop_head_writer_headers(std::vector<protocol::Header>& headers) {
    std::erase_if(headers, [](const protocol::Header& h) {
        return strcasecmp(h.name.c_str(), "Date") == 0 || strcasecmp(h.name.c_str(), "Server") == 0;
    });
}

HoldResponse hold_response_of(const grip::Instruction& instruction,
                              const upstream::ResponseHead& head, const std::string& body) {
    if (instruction.response) {
        const grip::Response& r = *instruction.response;
        HoldResponse out{r.code, r.reason, grip::hold_response_headers(r.headers, std::nullopt),
                         r.body};
        drop_head_writer_headers(out.headers);
        return out;
    }
    HoldResponse out{head.status, head.reason,
                     grip::hold_response_headers(head.headers, instruction.expose), body};
    drop_head_writer_headers(out.headers);
    if (instruction.status) {
        out.code = instruction.status->code;
        out.reason = instruction.status->reason;
    }
    return out;
}

void respond_with(http::Exchange& exchange, const HoldResponse& response) {
    protocol::ResponseHead head(response.code, response.reason, exchange.http_minor() == 0 ? 0 : 1);
    for (const protocol::Header& h : response.headers) head.add(h.name, h.value);
    exchange.respond(response.code,
                     std::make_shared<const std::string>(
                         head.finish(response.body.size(), exchange.keeps_alive())),
                     std::make_shared<const std::string>(response.body));
}

// One channel's part of a hold: the Hold does the talking (push/multiplex.h's Member, for GRIP).
class Hold::Member final : public Subscription {
  public:
    Member(std::shared_ptr<Hold> hold, std::size_t position, core::SubscriberKind kind)
        : hold_(std::move(hold)), position_(position), kind_(kind) {}
    ~Member() override { hold_->member_gone(position_); }

    // Persistent: an ignored item (a `close` on a response hold) must not end it; the hold
    // decides when it is over.
    bool one_shot() const override { return false; }
    core::SubscriberKind kind() const override { return kind_; }
    bool takes_grip_items() const override { return true; }
    void deliver(const Payload& payload, DeliveryHeads&) override {
        if (!hold_->answered_)
            hold_->deliver(position_, payload);
    }
    void finish(Ending why) override { hold_->finish(why); }
    void leave() { client_gone(); }

  private:
    std::shared_ptr<Hold> hold_;
    std::size_t position_;
    core::SubscriberKind kind_;
};

void Hold::start(GripProxy& proxy, http::Exchange& exchange,
                 std::shared_ptr<const ProxiedRequest> request, grip::Instruction instruction,
                 HoldResponse response) {
    if (proxy.stopping())
        return respond_with(exchange, response);  // as a stop answers the holds it ends
    const conf::PushSettings& push = exchange.location().push;
    broker::Broker& broker = proxy.broker();
    std::vector<broker::SubscribeResult> results;
    for (const grip::HoldChannel& channel : instruction.channels) {
        const std::string key = push.channel_group + "/" + channel.name;
        broker::SubscribeRequest subscribe;
        subscribe.key = key;
        subscribe.wait_for_new = true;  // GRIP keeps no history
        subscribe.persistent = true;
        subscribe.limits_if_created.store_messages = false;
        broker::SubscribeResult result = broker.subscribe(subscribe);
        if (result.status != core::Status::Ok || !result.waiting) {
            for (const broker::SubscribeResult& r : results) broker.unsubscribe(r.channel, 1);
            proxy.bad_gateway(exchange, std::string("cannot hold channel: ") +
                                            std::string(core::describe(result.status)));
            return;
        }
        results.push_back(std::move(result));
    }
    const bool stream = instruction.mode == grip::HoldMode::Stream;
    const conf::GripSettings& grip = push.grip;
    const auto seconds = [](conf::Millis m) { return static_cast<int64_t>(m.count() / 1000); };
    const conf::Millis timeout =
        stream ? conf::Millis(0)
               : conf::Millis(1000 * grip::hold_timeout(instruction, seconds(grip.hold_timeout),
                                                        seconds(grip.hold_timeout_min)));
    std::shared_ptr<Hold> hold;
    if (stream)
        hold.reset(new StreamHold(proxy, exchange, std::move(request), std::move(instruction),
                                  std::move(response)));
    else
        hold.reset(new ResponseHold(proxy, exchange, std::move(request), std::move(instruction),
                                    std::move(response)));
    hold->members_.assign(results.size(), nullptr);
    exchange.set_observer(hold.get());
    const core::SubscriberKind kind =
        stream ? core::SubscriberKind::GripStream : core::SubscriberKind::GripResponse;
    for (std::size_t i = 0; i < results.size(); ++i) {
        auto member = std::make_unique<Member>(hold, i, kind);
        hold->members_[i] = member.get();
        // One timer for the whole hold: the first member's timeout ends the rest.
        proxy.subscriptions().add(std::move(member), results[i].channel, results[i].waiter_seq,
                                  results[i].resume_after, i == 0 ? timeout : conf::Millis(0));
    }
    hold->begin();
}

Hold::Hold(GripProxy& proxy, http::Exchange& exchange,
           std::shared_ptr<const ProxiedRequest> request, grip::Instruction instruction,
           HoldResponse response)
    : proxy_(proxy),
      exchange_(exchange),
      request_(std::move(request)),
      instruction_(std::move(instruction)),
      response_(std::move(response)) {}

Hold::~Hold() = default;

// From the loop: a walk may be stepping over the member that delivered.
void Hold::leave() {
    proxy_.soon([self = shared_from_this()] {
        for (Subscription* m : self->members_) {
            if (m) {
                static_cast<Member*>(m)->leave();  // the others follow it (member_gone)
                return;
            }
        }
    });
}

void Hold::rerequest() {
    answered_ = true;
    proxy_.figures().rerequests++;
    proxy_.broker().count_grip_rerequest();
    proxy_.rerequest(exchange_, request_, instruction_.channels);
    leave();
}

// The client left (from the loop, never under a delivery): every channel at once.
void Hold::exchange_aborted() {
    answered_ = true;
    std::shared_ptr<Hold> self = shared_from_this();
    for (Subscription* m : members_) {
        if (m) {
            static_cast<Member*>(m)->leave();
            return;
        }
    }
}

void Hold::member_gone(std::size_t position) {
    members_[position] = nullptr;
    if (ending_)
        return;
    ending_ = true;
    for (Subscription* m : members_) {
        if (m)
            static_cast<Member*>(m)->leave();
    }
}

// ---- response holds ----

ResponseHold::ResponseHold(GripProxy& proxy, http::Exchange& exchange,
                           std::shared_ptr<const ProxiedRequest> request,
                           grip::Instruction instruction, HoldResponse response)
    : Hold(proxy, exchange, std::move(request), std::move(instruction), std::move(response)) {
    proxy_.figures().held_responses++;
}

ResponseHold::~ResponseHold() {
    proxy_.figures().held_responses--;
}

void ResponseHold::deliver(std::size_t position, const Payload& payload) {
    if (payload.content_type != kGripItemType) {
        // A push message (the bridge): http-response {its status, its type or headers, body}.
        HoldResponse published{payload.status, std::string(protocol::reason_phrase(payload.status)),
                               payload.headers, payload.body ? *payload.body : std::string()};
        if (!payload.content_type.empty() && payload.headers.empty())
            published.headers.push_back({"Content-Type", payload.content_type});
        published.headers = grip::merge_published_headers(response_.headers, published.headers);
        return answer(published);
    }
    std::optional<grip::Item> item = grip::unpack_item(payload.body ? *payload.body : "");
    if (!item)
        return;
    const std::optional<std::string>& prev = instruction_.channels[position].prev_id;
    if (prev && item->prev_id != prev)
        return rerequest();
    if (!item->http_response)
        return;
    const grip::HttpResponseFormat& r = *item->http_response;
    switch (r.action) {
        case grip::Action::Hint:
            return rerequest();
        case grip::Action::Close:
            return;
        case grip::Action::Send:
            return answer({r.code, r.reason,
                           grip::merge_published_headers(response_.headers, r.headers), r.body});
    }
}

void ResponseHold::answer(const HoldResponse& response) {
    answered_ = true;
    respond_with(exchange_, response);
    leave();
}

void ResponseHold::finish(Ending) {
    // Timeout, a graceful stop, a deleted channel: the hold response, as at its timeout (the
    // client polls again, maybe on another worker).
    if (answered_)
        return;
    answered_ = true;
    respond_with(exchange_, response_);
}

// ---- stream holds ----

StreamHold::StreamHold(GripProxy& proxy, http::Exchange& exchange,
                       std::shared_ptr<const ProxiedRequest> request, grip::Instruction instruction,
                       HoldResponse response)
    : Hold(proxy, exchange, std::move(request), std::move(instruction), std::move(response)) {
    ev_timer_init(&keep_alive_, on_keep_alive, 0., 0.);
    keep_alive_.data = this;
    proxy_.figures().held_streams++;
}

StreamHold::~StreamHold() {
    ev_timer_stop(proxy_.loop(), &keep_alive_);
    proxy_.figures().held_streams--;
}

void StreamHold::begin() {
    protocol::ResponseHead head(response_.code, response_.reason,
                                exchange_.http_minor() == 0 ? 0 : 1);
    for (const protocol::Header& h : response_.headers) head.add(h.name, h.value);
    exchange_.begin_stream(head, http::Framing::Chunked,
                           exchange_.location().push.grip.stream_buffer);
    send(std::move(response_.body));
}

void StreamHold::deliver(std::size_t position, const Payload& payload) {
    if (payload.content_type != kGripItemType)
        return send(payload.body ? *payload.body : std::string());  // the bridge: its body
    std::optional<grip::Item> item = grip::unpack_item(payload.body ? *payload.body : "");
    if (!item)
        return;
    // An item with an id moves its channel's prev-id on: the next one must name it.
    if (item->id && instruction_.channels[position].prev_id)
        instruction_.channels[position].prev_id = item->id;
    if (!item->http_stream)
        return;
    switch (item->http_stream->action) {
        case grip::Action::Send:
            return send(item->http_stream->content);
        case grip::Action::Hint:  // fetch the next link: not yet (later), so the stream ends
        case grip::Action::Close:
            return end();
    }
}

void StreamHold::send(std::string bytes) {
    if (!bytes.empty())
        exchange_.send(std::make_shared<const std::string>(std::move(bytes)));
    arm_keep_alive();
}

void StreamHold::end() {
    answered_ = true;
    ev_timer_stop(proxy_.loop(), &keep_alive_);
    exchange_.end_stream();
    leave();
}

void StreamHold::finish(Ending) {
    if (answered_)
        return;
    answered_ = true;
    ev_timer_stop(proxy_.loop(), &keep_alive_);
    exchange_.end_stream(true);
}

// Idle mode restarts on every send; interval mode runs on its own.
void StreamHold::arm_keep_alive() {
    if (!instruction_.keep_alive || answered_)
        return;
    const grip::KeepAlive& k = *instruction_.keep_alive;
    if (k.mode == grip::KeepAliveMode::Interval && ev_is_active(&keep_alive_))
        return;
    ev_timer_stop(proxy_.loop(), &keep_alive_);
    ev_timer_set(&keep_alive_, k.timeout,
                 k.mode == grip::KeepAliveMode::Interval ? static_cast<double>(k.timeout) : 0.);
    ev_timer_start(proxy_.loop(), &keep_alive_);
}

void StreamHold::on_keep_alive(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<StreamHold*>(w->data);
    if (!self->answered_)
        self->send(self->instruction_.keep_alive->data);
}

}  // namespace pushrelay::push
