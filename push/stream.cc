#include "push/stream.h"

#include <random>

#include "protocol/message_id.h"
#include "protocol/response.h"
#include "push/delivery.h"
#include "push/responses.h"

namespace pushrelay::push {
namespace {

http::SharedBytes shared(std::string_view text) {
    return std::make_shared<const std::string>(text);
}

std::string id_text(core::MessageId id) {
    return std::to_string(id.time) + ":" + protocol::format_etag(id.tag);
}

// `<name><value><end>`: one line of an EventSource frame or a multipart part's head.
void append_field(std::string& out, std::string_view name, std::string_view value,
                  std::string_view end) {
    out.append(name);
    out.append(value);
    out.append(end);
}

}  // namespace

std::string eventsource_frame(core::MessageId id, std::string_view event, std::string_view body) {
    return eventsource_frame(id_text(id), event, body);
}

std::string eventsource_frame(std::string_view id, std::string_view event, std::string_view body) {
    std::string out;
    if (!event.empty())
        append_field(out, "event: ", event, "\n");
    append_field(out, "id: ", id, "\n");
    out.reserve(out.size() + body.size() + 16);
    std::size_t start = 0;
    for (;;) {
        std::size_t nl = body.find('\n', start);
        out += "data: ";
        if (nl == std::string_view::npos) {
            out.append(body.substr(start));
            out += '\n';
            break;
        }
        out.append(body.substr(start, nl + 1 - start));
        start = nl + 1;
    }
    out += '\n';
    return out;
}

std::string multipart_part(core::MessageId id, std::string_view content_type,
                           std::string_view body) {
    return multipart_part(id.time, protocol::format_etag(id.tag), content_type, body);
}

std::string multipart_part(std::int64_t time, std::string_view etag, std::string_view content_type,
                           std::string_view body) {
    std::string out = "\r\n";
    append_field(out, "Last-Modified: ", protocol::http_date(static_cast<time_t>(time)), "\r\n");
    append_field(out, "Etag: ", etag, "\r\n");
    if (!content_type.empty())
        append_field(out, "Content-Type: ", content_type, "\r\n");
    out += "\r\n";
    out.append(body);
    out += "\r\n--";
    return out;
}

std::string make_boundary() {
    static constexpr std::string_view kChars =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<std::size_t> pick(0, kChars.size() - 1);
    std::string out(32, '0');
    for (char& c : out) c = kChars[pick(rng)];
    return out;
}

std::string eventsource_ping(const conf::PushSettings& push) {
    std::string out;
    if (!push.eventsource_ping_comment.empty())
        out += ":" + push.eventsource_ping_comment + "\n";
    if (!push.eventsource_ping_event.empty())
        out += "event: " + push.eventsource_ping_event + "\n";
    if (!push.eventsource_ping_data.empty())
        out += "data: " + push.eventsource_ping_data + "\n";
    out += '\n';
    return out;
}

Stream::Stream(http::Exchange& exchange, StreamKind kind)
    : exchange_(exchange), loop_(exchange.loop()), kind_(kind) {
    const conf::PushSettings& push = exchange_.location().push;
    ev_init(&ping_, on_ping);
    ping_.data = this;
    if (kind_ == StreamKind::EventSource && push.eventsource_ping_interval.count() > 0) {
        ev_timer_set(&ping_, 0., push.eventsource_ping_interval.count() / 1000.0);
        ev_timer_again(loop_, &ping_);
    }
    exchange_.set_observer(this);
    std::vector<protocol::Header> headers;
    http::Framing framing = http::Framing::Raw;
    http::SharedBytes preamble;
    switch (kind_) {
        case StreamKind::EventSource:
            headers.push_back({"Content-Type", "text/event-stream; charset=utf-8"});
            static const http::SharedBytes hi = shared(": hi\n\n");
            preamble = hi;
            break;
        case StreamKind::Chunked:
            framing = http::Framing::Chunked;
            break;
        case StreamKind::Multipart: {
            std::string boundary = make_boundary();
            headers.push_back({"Content-Type", "multipart/mixed; boundary=" + boundary});
            preamble = shared("--" + boundary);
            boundary_ = shared(boundary);
            break;
        }
    }
    add_cors_headers(exchange_.location(), headers);
    exchange_.begin_stream(200, headers, framing, push.max_unsent_bytes);
    if (preamble && !gone_)
        exchange_.send(preamble);
}

core::SubscriberKind Stream::kind() const {
    switch (kind_) {
        case StreamKind::EventSource:
            return core::SubscriberKind::EventSource;
        case StreamKind::Chunked:
            return core::SubscriberKind::Chunked;
        case StreamKind::Multipart:
            break;
    }
    return core::SubscriberKind::Multipart;
}

Stream::~Stream() {
    ev_timer_stop(loop_, &ping_);
}

void Stream::on_ping(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Stream*>(w->data);
    self->exchange_.send(shared(eventsource_ping(self->exchange_.location().push)));
}

void Stream::deliver(const Payload& payload, DeliveryHeads& heads) {
    if (gone_)
        return;
    http::SharedBytes& frame = heads.stream_frame(static_cast<std::size_t>(kind_));
    if (!frame) {
        const std::string& body = payload.body ? *payload.body : std::string();
        switch (kind_) {
            case StreamKind::EventSource:
                frame = shared(eventsource_frame(id_of(payload), payload.event, body));
                break;
            case StreamKind::Chunked:
                frame = payload.body ? payload.body : shared("");
                break;
            case StreamKind::Multipart:
                frame = shared(
                    multipart_part(payload.id.time, etag_of(payload), payload.content_type, body));
                break;
        }
    }
    exchange_.send(frame);  // an empty chunked message is skipped by send()
    if (kind_ == StreamKind::Multipart && !gone_)
        exchange_.send(boundary_);
}

void Stream::finish(Ending why) {
    if (gone_)
        return;
    static const http::SharedBytes gone = shared(":410: 410 Gone\n\n");
    static const http::SharedBytes timeout = shared(":408: 408 Request Timeout\n\n");
    static const http::SharedBytes close = shared("--\r\n");
    switch (why) {
        case Ending::ClientGone:
        case Ending::Delivered:
        case Ending::Resynced:
            return;
        case Ending::Deleted:
        case Ending::TimedOut:
        case Ending::Stopping:
        case Ending::Restarting:
        case Ending::Kicked:
            break;
    }
    if (kind_ == StreamKind::EventSource) {
        if (why == Ending::Deleted)
            exchange_.send(gone);
        else if (why == Ending::TimedOut)
            exchange_.send(timeout);
    } else if (kind_ == StreamKind::Multipart) {
        exchange_.send(close);
    }
    if (!gone_) {
        ev_timer_stop(loop_, &ping_);
        exchange_.set_observer(nullptr);
        exchange_.end_stream(why == Ending::Deleted);  // transports.md: deleted closes
    }
}

// Never inside the handler's own call (http/ reports write errors from the loop), so the stream
// is in Subscriptions by then.
void Stream::exchange_aborted() {
    ev_timer_stop(loop_, &ping_);
    gone_ = true;
    client_gone();
}

}  // namespace pushrelay::push
