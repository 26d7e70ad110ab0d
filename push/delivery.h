// push/delivery.h — a message turned into what its subscribers receive.
//
// Built once per worker and message, then handed to every subscription waiting for it: the body
// is one shared buffer, and a long-poll head is built once per kind of receiver (location, HTTP
// version, keep-alive), not per subscriber.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "conf/conf.h"
#include "http/connection.h"
#include "protocol/header.h"

namespace pushrelay::push {

// The content type a GRIP item (grip::pack_item bytes) travels under through the broker: published
// unstored to its channel, it reaches GRIP holds only (Subscription::takes_grip_items), never a
// push subscriber (grip.md "one namespace": bridged one way).
inline constexpr std::string_view kGripItemType = "application/x-pushrelay-grip-item";

struct Payload {
    int status = 200;
    core::MessageId id{};
    // A multiplexed subscription's tag list for this message (`[0],-`, push/multiplex.h); empty:
    // the message's own tag. What the client sends back, so it goes wherever the tag would.
    std::string tags;
    std::string content_type;               // empty: the location's default_type
    std::string event;                      // X-EventSource-Event; empty: none
    std::vector<protocol::Header> headers;  // from a message/http body
    http::SharedBytes body;
};

// For message/http, unpacks the status, headers and body; otherwise shares the message's body.
Payload make_payload(const broker::Message& message);

// Of the next messages of a multiplexed subscription's channels (nullopt: none), the one to send
// first: the oldest by (time, tag), the earlier position on a tie (transports.md
// "Multiplexing"). next.size() when there is none.
std::size_t oldest_of(std::span<const std::optional<broker::Message>> next);

// The Etag of a payload: its tag list, or its tag.
std::string etag_of(const Payload& payload);
// Its message id as the streams write it: `<time>:<etag>` (transports.md "Message id").
std::string id_of(const Payload& payload);

// The slots of DeliveryHeads::stream_frame(): push/stream.h's StreamKind values, then the
// WebSocket frame (the body) and the ws+meta.nchan one (push/websocket.h).
inline constexpr std::size_t kWebSocketFrameSlot = 3;
inline constexpr std::size_t kWebSocketMetaFrameSlot = 4;
inline constexpr std::size_t kFrameSlots = 5;

// Heads for one payload, built on first use for each kind of receiver.
class DeliveryHeads {
  public:
    explicit DeliveryHeads(const Payload& payload) : payload_(payload) {}
    http::SharedBytes get(const conf::Location& location, int http_minor, bool keep_alive);
    // The frame of one streaming transport (a slot above) for this payload: built by the first
    // stream subscriber that needs it, shared by the rest.
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
    std::array<http::SharedBytes, kFrameSlots> frames_;
};

// Answers the exchange with the payload as a whole response.
void respond_with_payload(http::Exchange& exchange, const Payload& payload, DeliveryHeads& heads);

}  // namespace pushrelay::push
