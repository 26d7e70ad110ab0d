// push/delivery.h — a message turned into what its subscribers receive.
//
// Built once per worker and message, then handed to every subscription waiting for it: the body
// is one shared buffer, and a long-poll head is built once per kind of receiver (location, HTTP
// version, keep-alive), not per subscriber.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "conf/conf.h"
#include "http/connection.h"
#include "protocol/header.h"

namespace pushrelay::push {

struct Payload {
    int status = 200;
    core::MessageId id{};
    std::string content_type;               // empty: the location's default_type
    std::string event;                      // X-EventSource-Event; empty: none
    std::vector<protocol::Header> headers;  // from a message/http body
    http::SharedBytes body;
};

// For message/http, unpacks the status, headers and body; otherwise shares the message's body.
Payload make_payload(const broker::Message& message);

// Heads for one payload, built on first use for each kind of receiver.
class DeliveryHeads {
  public:
    explicit DeliveryHeads(const Payload& payload) : payload_(payload) {}
    http::SharedBytes get(const conf::Location& location, int http_minor, bool keep_alive);
    // The frame of one streaming transport (push/stream.h StreamKind) for this payload: built by
    // the first stream subscriber that needs it, shared by the rest.
    http::SharedBytes& stream_frame(std::size_t kind) { return frames_[kind]; }

  private:
    struct Entry {
        const conf::Location* location;
        int http_minor;
        bool keep_alive;
        http::SharedBytes head;
    };
    const Payload& payload_;
    std::vector<Entry> entries_;  // a handful at most: linear search is fastest
    std::array<http::SharedBytes, 3> frames_;
};

// Answers the exchange with the payload as a whole response.
void respond_with_payload(http::Exchange& exchange, const Payload& payload, DeliveryHeads& heads);

}  // namespace pushrelay::push
