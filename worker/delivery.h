// A stored message turned into what its subscribers receive. Built once per
// worker and message, then written to every waiting subscriber: the body is
// one shared buffer, and the head is built once per kind of receiver
// (location, HTTP version, keep-alive), not per subscriber.
// Internal to worker/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "conf/conf.h"
#include "core/message_id.h"
#include "protocol/request_parser.h"
#include "shm/store.h"
#include "worker/connection.h"

namespace pushrelay::worker {

struct Payload {
    int status = 200;
    core::MessageId id{};
    std::string content_type;               // empty: the location's default_type
    std::vector<protocol::Header> headers;  // from a message/http body
    SharedBytes body;
};

// Copies the message out of the segment (the caller holds its pin) and, for
// message/http, unpacks its status, headers and body.
Payload make_payload(const shm::MessageView& message);

// Heads for one payload, built on first use for each kind of receiver.
class DeliveryHeads {
  public:
    explicit DeliveryHeads(const Payload& payload) : payload_(payload) {}
    SharedBytes get(const conf::Location& location, int http_minor, bool keep_alive);

  private:
    struct Entry {
        const conf::Location* location;
        int http_minor;
        bool keep_alive;
        SharedBytes head;
    };
    const Payload& payload_;
    std::vector<Entry> entries_;  // a handful at most: linear search is fastest
};

// Answers `connection` (its current request) with the payload.
void respond_with_payload(Connection& connection, const Payload& payload, DeliveryHeads& heads);

}  // namespace pushrelay::worker
