#include "push/grip_publish.h"

#include <algorithm>
#include <variant>

#include "core/clock.h"
#include "core/log.h"
#include "push/delivery.h"
#include "push/locations.h"

namespace pushrelay::push {
namespace {

// grip.md: a full segment answers 507 with a text reason; errors are text whatever Accept said.
constexpr std::string_view kNoSpace =
    "507 Insufficient Storage: the shared segment cannot take the items; none was published. "
    "Retry once messages expire or channels are deleted.\n";

// A guess at what one item takes in the segment beyond its bytes and key: the message block, the
// channel if it is new, pins and mailbox entries. Generous on purpose: the check before a
// publish only spares the common case of a nearly full segment a half-published request.
constexpr std::size_t kItemOverhead = 1024;

void respond(http::Exchange& exchange, const grip::ApiReply& reply) {
    std::vector<protocol::Header> headers = reply.headers;
    headers.push_back({"Content-Type", reply.content_type});
    exchange.respond(reply.status, headers, reply.body);
}

std::int64_t now_ms() {
    return static_cast<std::int64_t>(core::monotonic_us() / 1000);
}

}  // namespace

std::string_view path_after_location(const conf::Location& location, std::string_view path) {
    switch (location.match) {
        case conf::Location::Match::Exact:
            return "";
        case conf::Location::Match::Prefix:
            if (path.starts_with(location.pattern))
                return path.substr(location.pattern.size());
            return path;
        default:
            return path;
    }
}

GripPublisher::GripPublisher(broker::Broker& broker, struct ev_loop* loop)
    : broker_(broker), loop_(loop) {
    ev_init(&timer_, on_timer);
    timer_.data = this;
    arm_timer();
}

GripPublisher::~GripPublisher() {
    ev_timer_stop(loop_, &timer_);
}

void GripPublisher::handle(http::Exchange& exchange) {
    const protocol::Request& req = exchange.request();
    const grip::ApiRoute route = grip::route_publish_request(
        req.method, path_after_location(exchange.location(), req.path), req.header("Accept"));
    switch (route.request) {
        case grip::ApiRequest::Reply:
            return respond(exchange, route.reply);
        case grip::ApiRequest::Publish:
            respond(exchange, publish(exchange.location(), req.body, route.format));
            break;
        case grip::ApiRequest::Recover:
            recover();
            respond(exchange, grip::publish_reply(route.request, route.format));
            break;
    }
}

grip::ApiReply GripPublisher::publish(const conf::Location& location, std::string_view body,
                                      grip::ReplyFormat format) {
    const conf::PushSettings& push = location.push;
    auto parsed = grip::parse_publish_body(body, push.max_channel_id_length);
    if (auto* error = std::get_if<grip::PublishError>(&parsed))
        return grip::error_reply(400, std::move(*error));
    auto& items = std::get<std::vector<grip::Item>>(parsed);

    // All or nothing: refuse the request before anything goes out when the segment is plainly
    // too full for it. A publish can still fail after earlier items went out (the estimate is
    // not a reservation; doc/decisions.md).
    std::uint64_t needed = body.size();  // the packed items together are no larger than it
    for (const grip::Item& item : items)
        needed += push.channel_group.size() + item.channel.size() + kItemOverhead;
    if (broker_.stats().segment_free < needed)
        return grip::error_reply(507, std::string(kNoSpace));

    core::ChannelLimits limits = channel_limits(push);
    limits.store_messages = false;  // grip.md: a GRIP item is never stored
    const GripSequencer::Timing timing{push.grip.message_wait.count(),
                                       push.grip.id_cache_ttl.count()};
    const std::int64_t now = now_ms();
    std::size_t taken = 0;            // items taken before one was refused
    for (grip::Item& item : items) {  // in array order (grip.md "Ordering")
        std::string key = push.channel_group + "/" + item.channel;
        if (submit(key, std::move(item), limits, timing, now) == GripSequencer::Outcome::NoSpace)
            break;
        ++taken;
    }
    after_steps();
    if (taken == 0 && !items.empty())
        return grip::error_reply(507, std::string(kNoSpace));
    if (taken < items.size())  // the estimate was wrong: say what went out
        return grip::error_reply(
            507, "507 Insufficient Storage: the shared segment is full; the first " +
                     std::to_string(taken) + " of " + std::to_string(items.size()) +
                     " items were accepted, the rest were not.\n");
    return grip::publish_reply(grip::ApiRequest::Publish, format);
}

GripSequencer::Outcome GripPublisher::submit(const std::string& key, grip::Item item,
                                             const core::ChannelLimits& limits,
                                             GripSequencer::Timing timing, std::int64_t now_ms) {
    auto outcome = GripSequencer::Outcome::NoSpace;
    const core::Status stored =
        broker_.sequence_grip(key, [&](std::string_view k, std::string_view bytes) {
            return step(k, bytes, now_ms, [&](GripSequencer& sequencer) {
                // Items whose wait is over go before this one, which came after them.
                sequencer.tick(now_ms);
                outcome = sequencer.submit(std::move(item), limits, timing, now_ms);
            });
        });
    if (stored == core::Status::NoSpace) {
        LOG_ERROR(
            "GRIP sequencing state of \"%s\" forgotten: the shared segment is full "
            "(push_max_reserved_memory)",
            log::escape(key).c_str());
        if (outcome == GripSequencer::Outcome::Waiting)
            outcome = GripSequencer::Outcome::NoSpace;  // it waited in the state just lost
    }
    return outcome;
}

broker::SequenceUpdate GripPublisher::step(std::string_view key, std::string_view bytes,
                                           std::int64_t now_ms,
                                           const std::function<void(GripSequencer&)>& act) {
    std::optional<GripChannelState> decoded = decode_state(bytes);
    if (!decoded)
        LOG_ERROR("GRIP sequencing state of \"%s\" unreadable (%zu bytes), starting afresh",
                  log::escape(key).c_str(), bytes.size());
    GripChannelState state = decoded ? std::move(*decoded) : GripChannelState{};
    const GripSequencer::Emit emit = [&](const grip::Item& item,
                                         const core::ChannelLimits& limits) {
        return this->emit(key, item, limits);
    };
    GripSequencer sequencer(state, emit);
    act(sequencer);
    const std::uint32_t duplicates = sequencer.duplicates();
    const std::optional<std::int64_t> wake = sequencer.wake_at(now_ms);
    if (!wake) {
        broker::SequenceUpdate forget;
        forget.duplicates = duplicates;
        return forget;
    }
    return {.keep = true,
            .state = encode_state(state),
            .wake_at_ms = *wake,
            .waiting = static_cast<std::uint32_t>(state.waiting.size()),
            .duplicates = duplicates};
}

void GripPublisher::release_due() {
    const std::int64_t now = now_ms();
    broker_.sequence_grip_due(now, [&](std::string_view key, std::string_view bytes) {
        return step(key, bytes, now, [&](GripSequencer& sequencer) { sequencer.tick(now); });
    });
    after_steps();
}

void GripPublisher::recover() {
    const std::int64_t now = now_ms();
    broker_.sequence_grip_due(INT64_MAX, [&](std::string_view key, std::string_view bytes) {
        return step(key, bytes, now, [](GripSequencer& sequencer) { sequencer.recover(); });
    });
    broker_.announce_grip_recover();
}

bool GripPublisher::emit(std::string_view key, const grip::Item& item,
                         const core::ChannelLimits& limits) {
    auto result = broker_.publish(key, kGripItemType, "", grip::pack_item(item), limits);
    if (result.status == core::Status::NoSpace) {
        LOG_ERROR(
            "GRIP item to \"%s\" refused: the shared segment is full (push_max_reserved_memory)",
            log::escape(key).c_str());
        return false;
    }
    ++emitted_;
    return true;
}

// Set for the server's earliest wake, but never further than kPollMs: another worker may store
// an earlier one meanwhile, and this timer is how its items go out should that worker be gone.
void GripPublisher::arm_timer() {
    ev_timer_stop(loop_, &timer_);
    const std::int64_t now = now_ms();
    const std::int64_t next = std::min(broker_.next_grip_wake(), now + kPollMs);
    ev_timer_set(&timer_, static_cast<double>(std::max<std::int64_t>(next - now, 0)) / 1e3, 0.);
    ev_timer_start(loop_, &timer_);
}

void GripPublisher::on_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<GripPublisher*>(w->data);
    // Lock-free first: most polls find nothing due and take no lock.
    if (self->broker_.next_grip_wake() <= now_ms())
        self->release_due();
    else
        self->arm_timer();
}

void GripPublisher::after_steps() {
    if (emitted_ > 0) {
        broker_.count_grip_items(emitted_);
        emitted_ = 0;
    }
    arm_timer();
}

}  // namespace pushrelay::push
