#include "push/delivery.h"

#include <variant>

#include "protocol/message_http.h"
#include "protocol/message_id.h"
#include "protocol/response.h"
#include "push/responses.h"

namespace pushrelay::push {

Payload make_payload(const broker::Message& message) {
    Payload payload;
    payload.id = message.id;
    payload.event = message.event;
    if (protocol::is_message_http(message.content_type)) {
        // Validated at publish time; a parse failure here would mean a corrupt segment.
        auto parsed = protocol::parse_message_http(*message.body);
        if (auto* http = std::get_if<protocol::HttpMessage>(&parsed)) {
            payload.status = http->status;
            for (protocol::Header& h : http->headers) {
                if (protocol::iequals(h.name, "Content-Type")) {
                    payload.content_type = h.value;
                } else {
                    payload.headers.push_back(std::move(h));
                }
            }
            payload.body = std::make_shared<const std::string>(http->body);
            return payload;
        }
    }
    payload.content_type = message.content_type;
    payload.body = message.body;
    return payload;
}

std::size_t oldest_of(std::span<const std::optional<broker::Message>> next) {
    std::size_t pick = next.size();
    for (std::size_t i = 0; i < next.size(); ++i) {
        if (next[i] && (pick == next.size() || next[i]->id < next[pick]->id))
            pick = i;  // `<`, not `<=`: a tie goes to the earlier position
    }
    return pick;
}

std::string etag_of(const Payload& payload) {
    return payload.tags.empty() ? protocol::format_etag(payload.id.tag) : payload.tags;
}

std::string id_of(const Payload& payload) {
    return std::to_string(payload.id.time) + ":" + etag_of(payload);
}

http::SharedBytes DeliveryHeads::get(const conf::Location& location, int http_minor,
                                     bool keep_alive) {
    for (const Entry& e : entries_) {
        if (e.location == &location && e.http_minor == http_minor && e.keep_alive == keep_alive)
            return e.head;
    }
    protocol::ResponseHead head(payload_.status, http_minor);
    const std::string& type =
        payload_.content_type.empty() ? location.http.default_type : payload_.content_type;
    head.add("Content-Type", type);
    head.add("Last-Modified", protocol::http_date(payload_.id.time));
    head.add("Etag", etag_of(payload_));
    head.add("Vary", "If-None-Match, If-Modified-Since");
    std::vector<protocol::Header> cors;
    add_cors_headers(location, cors);
    for (const protocol::Header& h : cors) head.add(h.name, h.value);
    for (const protocol::Header& h : payload_.headers) head.add(h.name, h.value);
    auto bytes =
        std::make_shared<const std::string>(head.finish(payload_.body->size(), keep_alive));
    entries_.push_back({&location, http_minor, keep_alive, bytes});
    return bytes;
}

void respond_with_payload(http::Exchange& exchange, const Payload& payload, DeliveryHeads& heads) {
    http::SharedBytes head =
        heads.get(exchange.location(), exchange.http_minor(), exchange.keeps_alive());
    exchange.respond(payload.status, std::move(head), payload.body);
}

}  // namespace pushrelay::push
