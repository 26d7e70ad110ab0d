#include "push/grip_hold.h"

#include <strings.h>

#include <algorithm>
#include <random>

#include "core/log.h"
#include "grip/headers.h"
#include "protocol/response.h"
#include "push/grip_sequencer.h"

namespace pushrelay::push {

void drop_head_writer_headers(std::vector<protocol::Header>& headers) {
    std::erase_if(headers, [](const protocol::Header& h) {
        return strcasecmp(h.name.c_str(), "Date") == 0 || strcasecmp(h.name.c_str(), "Server") == 0;
    });
}

namespace {

// A hold keeps its response while held: the filters leave room for every origin header (a
// handful of the dropped ones each), which thousands of holds would keep.
HoldResponse compact(HoldResponse response) {
    drop_head_writer_headers(response.headers);
    response.headers.shrink_to_fit();
    return response;
}

}  // namespace

HoldResponse hold_response_of(const grip::Instruction& instruction,
                              const upstream::ResponseHead& head, const std::string& body) {
    if (instruction.response) {
        const grip::Response& r = *instruction.response;
        return compact(
            {r.code, r.reason, grip::hold_response_headers(r.headers, std::nullopt), r.body});
    }
    HoldResponse out{head.status, head.reason,
                     grip::hold_response_headers(head.headers, instruction.expose), body};
    if (instruction.status) {
        out.code = instruction.status->code;
        out.reason = instruction.status->reason;
    }
    return compact(std::move(out));
}

void respond_with(http::Exchange& exchange, const HoldResponse& response) {
    protocol::ResponseHead head(response.code, response.reason, exchange.http_minor() == 0 ? 0 : 1);
    for (const protocol::Header& h : response.headers) head.add(h.name, h.value);
    exchange.respond(response.code,
                     std::make_shared<const std::string>(
                         head.finish(response.body.size(), exchange.keeps_alive())),
                     std::make_shared<const std::string>(response.body));
}

std::variant<std::optional<std::string>, grip::InstructionError> stream_link(
    const grip::Instruction& instruction, std::string_view base_target,
    const conf::GripSettings& settings) {
    if (!instruction.next) {
        for (const grip::HoldChannel& c : instruction.channels) {
            if (c.prev_id)
                return grip::InstructionError("stream hold channel with prev-id but no Grip-Link");
        }
        return std::nullopt;
    }
    auto target =
        grip::resolve_next_link(instruction.next->uri, base_target, origin_authority(settings));
    if (auto* error = std::get_if<grip::InstructionError>(&target))
        return std::move(*error);
    return std::optional<std::string>(std::get<grip::LinkTarget>(target).target);
}

namespace {

// Subscribes `channels`, all or none: the results, or the broker's reason for a refusal.
std::variant<std::vector<broker::SubscribeResult>, std::string> subscribe_all(
    broker::Broker& broker, const conf::PushSettings& push,
    const std::vector<const grip::HoldChannel*>& channels) {
    std::vector<broker::SubscribeResult> results;
    for (const grip::HoldChannel* channel : channels) {
        const std::string key = push.channel_group + "/" + channel->name;  // `key` is a view
        broker::SubscribeRequest subscribe;
        subscribe.key = key;
        subscribe.wait_for_new = true;  // GRIP keeps no history
        subscribe.persistent = true;
        subscribe.limits_if_created.store_messages = false;
        broker::SubscribeResult result = broker.subscribe(subscribe);
        if (result.status != core::Status::Ok || !result.waiting) {
            for (const broker::SubscribeResult& r : results) broker.unsubscribe(r.channel, 1);
            return std::string("cannot hold channel: ") +
                   std::string(core::describe(result.status));
        }
        results.push_back(std::move(result));
    }
    return results;
}

}  // namespace

// One channel's part of a hold: the Hold does the talking (push/multiplex.h's Member, for GRIP).
class Hold::Member final : public Subscription {
  public:
    // The position of a member whose channel the hold no longer names: it is leaving.
    static constexpr std::size_t kRetired = SIZE_MAX;

    Member(std::shared_ptr<Hold> hold, std::size_t position, core::SubscriberKind kind)
        : hold_(std::move(hold)), position_(position), kind_(kind) {}
    ~Member() override { hold_->member_gone(position_); }

    // Persistent: an ignored item (a `close` on a response hold) must not end it; the hold
    // decides when it is over.
    bool one_shot() const override { return false; }
    core::SubscriberKind kind() const override { return kind_; }
    bool takes_grip_items() const override { return true; }
    bool outlives_reload() const override { return true; }
    bool outlives_delete() const override { return true; }
    void deliver(const Payload& payload, DeliveryHeads&) override {
        if (!hold_->answered_ && position_ != kRetired)
            hold_->deliver(position_, payload);
    }
    void finish(Ending why) override {
        if (position_ != kRetired)
            hold_->finish(why);
    }
    void leave() { client_gone(); }
    void move_to(std::size_t position) { position_ = position; }

  private:
    std::shared_ptr<Hold> hold_;
    std::size_t position_;
    core::SubscriberKind kind_;
};

void Hold::start(GripProxy& proxy, http::Exchange& exchange, grip::Instruction instruction,
                 HoldResponse response) {
    if (proxy.stopping())
        return respond_with(exchange, response);  // as a stop answers the holds it ends
    const conf::PushSettings& push = exchange.location().push;
    const conf::GripSettings& grip = push.grip;
    const bool stream = instruction.mode == grip::HoldMode::Stream;
    std::optional<std::string> link;
    if (stream) {
        auto resolved = stream_link(instruction, exchange.request().target, grip);
        if (auto* error = std::get_if<grip::InstructionError>(&resolved))
            return proxy.bad_gateway(exchange, *error);
        link = std::move(std::get<std::optional<std::string>>(resolved));
    }
    std::vector<const grip::HoldChannel*> channels;
    for (const grip::HoldChannel& c : instruction.channels) channels.push_back(&c);
    auto subscribed = subscribe_all(proxy.broker(), push, channels);
    if (auto* error = std::get_if<std::string>(&subscribed))
        return proxy.bad_gateway(exchange, *error);
    std::vector<std::pair<std::size_t, broker::SubscribeResult>> added;
    for (broker::SubscribeResult& r : std::get<std::vector<broker::SubscribeResult>>(subscribed))
        added.emplace_back(added.size(), std::move(r));
    const auto seconds = [](conf::Millis m) { return static_cast<int64_t>(m.count() / 1000); };
    const conf::Millis timeout =
        stream ? conf::Millis(0)
               : conf::Millis(1000 * grip::hold_timeout(instruction, seconds(grip.hold_timeout),
                                                        seconds(grip.hold_timeout_min)));
    std::shared_ptr<Hold> hold;
    if (stream)
        hold = std::make_shared<StreamHold>(proxy, exchange, std::move(instruction),
                                            std::move(response), std::move(link));
    else
        hold = std::make_shared<ResponseHold>(proxy, exchange, std::move(instruction.channels),
                                              std::move(response));
    hold->members_.assign(added.size(), nullptr);
    exchange.set_observer(hold.get());
    // One timer for the whole hold: the first member's timeout ends the rest.
    hold->add_members(added, timeout);
    hold->begin();
}

void Hold::add_members(const std::vector<std::pair<std::size_t, broker::SubscribeResult>>& added,
                       conf::Millis timeout) {
    const core::SubscriberKind kind = member_kind();
    for (const auto& [position, result] : added) {
        auto member = std::make_unique<Member>(shared_from_this(), position, kind);
        members_[position] = member.get();
        proxy_.subscriptions().add(std::move(member), result.channel, result.waiter_seq,
                                   result.resume_after, position == 0 ? timeout : conf::Millis(0));
    }
}

std::optional<std::string> Hold::resubscribe(const std::vector<grip::HoldChannel>& channels) {
    std::vector<Subscription*> next(channels.size(), nullptr);
    std::vector<bool> kept(members_.size(), false);
    std::vector<std::size_t> joining;
    std::vector<const grip::HoldChannel*> wanted;
    // O(old × new): both are at most push_grip_max_channels (20).
    for (std::size_t i = 0; i < channels.size(); ++i) {
        for (std::size_t j = 0; j < members_.size(); ++j) {
            if (members_[j] && !kept[j] && channels_[j].name == channels[i].name) {
                next[i] = members_[j];
                kept[j] = true;
                break;
            }
        }
        if (!next[i]) {
            joining.push_back(i);
            wanted.push_back(&channels[i]);
        }
    }
    auto subscribed = subscribe_all(proxy_.broker(), exchange_.location().push, wanted);
    if (auto* error = std::get_if<std::string>(&subscribed))
        return std::move(*error);
    std::vector<Subscription*> leaving;
    for (std::size_t j = 0; j < members_.size(); ++j) {
        if (members_[j] && !kept[j]) {
            static_cast<Member*>(members_[j])->move_to(Member::kRetired);
            leaving.push_back(members_[j]);
        }
    }
    for (std::size_t i = 0; i < next.size(); ++i) {
        if (next[i])
            static_cast<Member*>(next[i])->move_to(i);
    }
    members_ = std::move(next);
    std::vector<std::pair<std::size_t, broker::SubscribeResult>> added;
    auto& results = std::get<std::vector<broker::SubscribeResult>>(subscribed);
    for (std::size_t k = 0; k < joining.size(); ++k)
        added.emplace_back(joining[k], std::move(results[k]));
    add_members(added, conf::Millis(0));
    // Not under a delivery (a fetch's answer comes from the loop): they may leave at once.
    for (Subscription* m : leaving) static_cast<Member*>(m)->leave();
    return std::nullopt;
}

Hold::Hold(GripProxy& proxy, http::Exchange& exchange, std::vector<grip::HoldChannel> channels,
           HoldResponse response)
    : proxy_(proxy),
      exchange_(exchange),
      channels_(std::move(channels)),
      response_(std::move(response)) {
    proxy_.track(*this);
}

Hold::~Hold() {
    proxy_.untrack(*this);
}

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
    proxy_.count_rerequest();
    proxy_.rerequest(exchange_, channels_);
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
    if (position == Member::kRetired)
        return;  // resubscribe() let it go; the hold goes on
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
                           std::vector<grip::HoldChannel> channels, HoldResponse response)
    : Hold(proxy, exchange, std::move(channels), std::move(response)) {
    proxy_.figures().held_responses++;
}

ResponseHold::~ResponseHold() {
    proxy_.figures().held_responses--;
}

void ResponseHold::refresh() {
    if (!answered_)
        rerequest();
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
    const std::optional<std::string>& prev = channels_[position].prev_id;
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

namespace {

// The GRIP item of a message when it has an http-stream format: the only items for streams.
std::optional<grip::Item> stream_item(const Payload& payload) {
    if (payload.content_type != kGripItemType)
        return std::nullopt;
    std::optional<grip::Item> item = grip::unpack_item(payload.body ? *payload.body : "");
    if (!item || !item->http_stream)
        return std::nullopt;
    return item;
}

double jitter() {
    static std::minstd_rand random{std::random_device{}()};
    return std::uniform_real_distribution<double>(0., 1.)(random);
}

}  // namespace

StreamHold::StreamHold(GripProxy& proxy, http::Exchange& exchange, grip::Instruction instruction,
                       HoldResponse response, std::optional<std::string> link)
    : Hold(proxy, exchange, std::move(instruction.channels), std::move(response)),
      link_(std::move(link)) {
    take_settings(instruction);
    ev_timer_init(&keep_alive_, on_keep_alive, 0., 0.);
    keep_alive_.data = this;
    ev_timer_init(&link_timer_, on_link_timeout, 0., 0.);
    link_timer_.data = this;
    ev_timer_init(&retry_timer_, on_retry, 0., 0.);
    retry_timer_.data = this;
    proxy_.figures().held_streams++;
}

StreamHold::~StreamHold() {
    stop_timers();
    proxy_.figures().held_streams--;
}

void StreamHold::refresh() {
    fetch_next();
}

void StreamHold::take_settings(const grip::Instruction& instruction) {
    link_timeout_ = instruction.next ? instruction.next->timeout : 0;
    keep_alive_spec_ = instruction.keep_alive;
}

void StreamHold::begin() {
    protocol::ResponseHead head(response_.code, response_.reason,
                                exchange_.http_minor() == 0 ? 0 : 1);
    for (const protocol::Header& h : response_.headers) head.add(h.name, h.value);
    exchange_.begin_stream(head, http::Framing::Chunked,
                           exchange_.location().push.grip.stream_buffer);
    send(std::move(response_.body));
    arm_link_timer();
    // grip.md "Reliability" (3): items went out on a channel after the prev-id the origin knew
    // (they reached no hold of this client): the next link brings them.
    if (prev_id_behind())
        fetch_next();
}

bool StreamHold::prev_id_behind() const {
    const std::string& group = exchange_.location().push.channel_group;
    for (const grip::HoldChannel& channel : channels_) {
        if (!channel.prev_id)
            continue;
        const std::optional<std::string> last =
            last_sent_id(proxy_.broker().grip_sequence_state(group + "/" + channel.name));
        if (last && *last != *channel.prev_id)
            return true;
    }
    return false;
}

void StreamHold::deliver(std::size_t position, const Payload& payload) {
    if (!fetching())
        return take(position, payload);
    // Pushpin queues too: the answer may well be followed by these (their prev-ids name its
    // last id), and a dropped one would be a gap nobody sees.
    if (queue_.size() >= kMaxQueued) {
        LOG_INFO("GRIP stream: %zu messages queued during a next link fetch, one dropped",
                 queue_.size());
        return;
    }
    queue_.push_back({channels_[position].name, payload});
}

void StreamHold::take(std::size_t position, const Payload& payload) {
    if (payload.content_type != kGripItemType)
        return send(payload.body ? *payload.body : std::string(), position);  // the bridge
    std::optional<grip::Item> item = stream_item(payload);
    if (!item)
        return;
    if (!follows(position, *item)) {
        // A gap: what is queued would follow the missing items, so it goes too.
        queue_.clear();
        return fetch_next();
    }
    // An item with an id moves its channel's prev-id on: the next one must name it.
    std::optional<std::string>& prev = channels_[position].prev_id;
    if (item->id && prev)
        prev = item->id;
    switch (item->http_stream->action) {
        case grip::Action::Send:
            return send(std::move(item->http_stream->content), position);
        case grip::Action::Hint:
            queue_.clear();
            return link_ ? fetch_next() : end();
        case grip::Action::Close:
            return end();
    }
}

bool StreamHold::follows(std::size_t position, const grip::Item& item) const {
    const std::optional<std::string>& prev = channels_[position].prev_id;
    return !prev || item.prev_id == prev;
}

void StreamHold::send(std::string bytes, std::optional<std::size_t> position) {
    if (!bytes.empty())
        exchange_.send(std::make_shared<const std::string>(std::move(bytes)));
    arm_keep_alive();
    if (!position || !link_ || *position >= active_.size())
        return;
    active_[*position] = true;
    if (std::all_of(active_.begin(), active_.end(), [](bool a) { return a; }))
        arm_link_timer();
}

void StreamHold::end() {
    answered_ = true;
    stop_timers();
    exchange_.end_stream();
    leave();
}

void StreamHold::fail(std::string_view reason) {
    LOG_INFO("GRIP stream: %.*s", static_cast<int>(reason.size()), reason.data());
    proxy_.count_origin_error();
    if (exchange_.location().push.grip.debug)
        send("\n\n" + std::string(reason) + "\n");
    answered_ = true;
    stop_timers();
    exchange_.end_stream(true);
    leave();
}

void StreamHold::finish(Ending) {
    if (answered_)
        return;
    answered_ = true;
    stop_timers();
    exchange_.end_stream(true);
}

void StreamHold::stop_timers() {
    ev_timer_stop(proxy_.loop(), &keep_alive_);
    ev_timer_stop(proxy_.loop(), &link_timer_);
    ev_timer_stop(proxy_.loop(), &retry_timer_);
    fetch_.reset();
    queue_.clear();
}

bool StreamHold::fetching() const {
    return fetch_ || ev_is_active(&retry_timer_);
}

void StreamHold::fetch_next() {
    if (answered_ || fetching() || !link_)
        return;
    ev_timer_stop(proxy_.loop(), &link_timer_);
    fetch_ = proxy_.fetch_link(exchange_, *link_, channels_,
                               [this](LinkOutcome outcome) { on_fetched(std::move(outcome)); });
}

void StreamHold::on_fetched(LinkOutcome outcome) {
    std::shared_ptr<Hold> self = shared_from_this();  // resubscribing lets members go
    fetch_.reset();
    if (answered_)
        return;
    if (auto* failure = std::get_if<LinkFailure>(&outcome)) {
        if (!failure->retry)
            return fail(failure->reason);
        LOG_INFO("GRIP stream: %s", failure->reason.c_str());
        if (failures_ >= kLinkRetries)
            return fail("Failed to retrieve next link.");
        const double delay = link_retry_delay(failures_++, proxy_.link_retry_unit(), jitter());
        ev_timer_set(&retry_timer_, delay, 0.);
        ev_timer_start(proxy_.loop(), &retry_timer_);
        return;
    }
    failures_ = 0;
    adopt(std::get<LinkAnswer>(outcome));
}

void StreamHold::adopt(const LinkAnswer& answer) {
    const conf::Location& location = exchange_.location();
    const grip::Limits limits{location.push.grip.max_channels, location.push.max_channel_id_length};
    auto parsed =
        grip::parse_instruction(answer.head.status, answer.head.headers, answer.body, limits);
    if (auto* error = std::get_if<grip::InstructionError>(&parsed))
        return fail(*error);
    grip::Instruction& next = std::get<grip::Instruction>(parsed);
    std::string body = hold_response_of(next, answer.head, answer.body).body;
    if (next.mode == grip::HoldMode::None) {
        // Paged bodies (a next link on a no-hold answer) are later: the stream ends here.
        send(std::move(body));
        return end();
    }
    if (next.mode != grip::HoldMode::Stream)
        return fail("Next link returned non-stream hold.");
    auto link = stream_link(next, *link_, location.push.grip);
    if (auto* error = std::get_if<grip::InstructionError>(&link))
        return fail(*error);
    if (auto error = resubscribe(next.channels))
        return fail(*error);
    link_ = std::move(std::get<std::optional<std::string>>(link));
    channels_ = std::move(next.channels);
    take_settings(next);
    ev_timer_stop(proxy_.loop(), &keep_alive_);  // the answer's keep-alive, if any, from now
    send(std::move(body));
    arm_link_timer();
    replay_queue();
}

void StreamHold::replay_queue() {
    std::deque<Queued> queued = std::move(queue_);
    queue_.clear();
    bool leading = true;
    for (const Queued& q : queued) {
        // A gap or a hint under way drops the rest, as it would have dropped the queue.
        if (answered_ || fetching())
            return;
        const auto& channels = channels_;
        auto it = std::find_if(channels.begin(), channels.end(),
                               [&](const grip::HoldChannel& c) { return c.name == q.channel; });
        if (it == channels.end())
            continue;
        const std::size_t position = static_cast<std::size_t>(it - channels.begin());
        if (leading) {
            std::optional<grip::Item> item = stream_item(q.payload);
            if (item && !follows(position, *item))
                continue;
            leading = false;
        }
        take(position, q.payload);
    }
}

// Idle mode restarts on every send; interval mode runs on its own.
void StreamHold::arm_keep_alive() {
    if (!keep_alive_spec_ || answered_)
        return;
    const grip::KeepAlive& k = *keep_alive_spec_;
    if (k.mode == grip::KeepAliveMode::Interval && ev_is_active(&keep_alive_))
        return;
    ev_timer_stop(proxy_.loop(), &keep_alive_);
    ev_timer_set(&keep_alive_, k.timeout,
                 k.mode == grip::KeepAliveMode::Interval ? static_cast<double>(k.timeout) : 0.);
    ev_timer_start(proxy_.loop(), &keep_alive_);
}

void StreamHold::arm_link_timer() {
    ev_timer_stop(proxy_.loop(), &link_timer_);
    active_.assign(channels_.size(), false);
    if (!link_ || answered_)
        return;
    ev_timer_set(&link_timer_, link_timeout_, 0.);
    ev_timer_start(proxy_.loop(), &link_timer_);
}

void StreamHold::on_keep_alive(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<StreamHold*>(w->data);
    if (!self->answered_)
        self->send(self->keep_alive_spec_->data);
}

// Not every channel had a send within the link's timeout: maybe items went missing.
void StreamHold::on_link_timeout(struct ev_loop*, ev_timer* w, int) {
    static_cast<StreamHold*>(w->data)->fetch_next();
}

void StreamHold::on_retry(struct ev_loop*, ev_timer* w, int) {
    static_cast<StreamHold*>(w->data)->fetch_next();
}

}  // namespace pushrelay::push
