#include "worker/delivery.h"

#include <variant>

#include "protocol/message_http.h"
#include "protocol/message_id.h"
#include "protocol/response.h"
#include "worker/handlers.h"

namespace pushrelay::worker {
Payload make_payload(const shm::MessageView& message) {
    Payload payload;
    payload.id = message.id;
    if (protocol::is_message_http(message.content_type)) {
        // Validated at publish time; a parse failure here would mean a corrupt segment.
        auto parsed = protocol::parse_message_http(message.body);
        if (auto* http = std::get_if<protocol::HttpMessage>(&parsed)) {
            payload.status = http->status;
            for (protocol::Header& h : http->headers) {
                if (strcasecmp(h.name.c_str(), "Content-Type") == 0) {
                    payload.content_type = h.value;
                } else {
                    payload.headers.push_back(std::move(h));
                }
            }
            payload.body = std::make_shared<const std::string>(http->body);
            return payload;
        }
    }
    payload.content_type = std::string(message.content_type);
    payload.body = std::make_shared<const std::string>(message.body);
    return payload;
}

SharedBytes DeliveryHeads::get(const conf::Location& location, int http_minor, bool keep_alive) {
    for (const Entry& e : entries_) {
        if (e.location == &location && e.http_minor == http_minor && e.keep_alive == keep_alive)
            return e.head;
    }
    protocol::ResponseHead head(payload_.status, http_minor);
    const std::string& type =
        payload_.content_type.empty() ? location.http.default_type : payload_.content_type;
    head.add("Content-Type", type);
    head.add("Last-Modified", protocol::http_date(payload_.id.time));
    head.add("Etag", protocol::format_etag(payload_.id.tag));
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

void respond_with_payload(Connection& connection, const Payload& payload, DeliveryHeads& heads) {
    bool keep_alive = connection.keeps_alive();
    SharedBytes head = heads.get(connection.location(), connection.http_minor(), keep_alive);
    connection.respond(payload.status, std::move(head), payload.body);
}

}  // namespace pushrelay::worker
