// grip/item.h — GRIP publish items: validating the body of `POST …/publish/` (grip.md "Publish
// API") into items, and packing a validated item's deliverable parts into bytes for the shared
// segment.
//
// Run by the worker that takes a publish (parsing) and by every worker that delivers (unpacking).
// Pure values: no sockets, no shared memory, no conf — the caller passes the one limit it needs.
// Validation is all-or-nothing: one bad item fails the whole body, so nothing of it is delivered.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::grip {

// A format's action. Send is the default when an item names none.
enum class Action : uint8_t { Send = 0, Hint = 1, Close = 2 };

// The `http-response` format: what a response hold answers with. code/reason/headers/body are
// meaningful only for Send.
struct HttpResponseFormat {
    Action action = Action::Send;
    int code = 200;                         // 0..999
    std::string reason;                     // as published, else the standard phrase (maybe "")
    std::vector<protocol::Header> headers;  // in the publisher's order; names are tokens, values
                                            // hold no CR/LF/NUL; hop-by-hop names not yet removed
    std::string body;                       // `body`, or `body-bin` decoded

    bool operator==(const HttpResponseFormat&) const = default;
};

// The `http-stream` format: bytes appended to stream holds. content is meaningful only for Send.
struct HttpStreamFormat {
    Action action = Action::Send;
    std::string content;  // `content`, or `content-bin` decoded

    bool operator==(const HttpStreamFormat&) const = default;
};

// One validated item. Formats it does not carry (or that are later: ws-message) are absent; an
// item with neither format is valid and reaches no hold.
struct Item {
    std::string channel;  // non-empty, at most the limit given to parse_publish_body
    std::optional<std::string> id;
    std::optional<std::string> prev_id;
    bool no_seq = false;
    std::optional<HttpResponseFormat> http_response;
    std::optional<HttpStreamFormat> http_stream;

    bool operator==(const Item&) const = default;
};

// The full 400 body for a publish body that fails validation: one of grip.md's texts, e.g.
// "Body is not valid JSON.\n" or "Invalid format: publish item object does not contain
// 'channel'\n". Per-item faults use Pushpin 1.36's wording where Pushpin has one
// (src/handler/publishitem.cpp, publishformat.cpp, variantutil.cpp).
using PublishError = std::string;

// Validates a publish body: a JSON object whose `items` array holds the items, in array order.
// `max_channel_id_length` is push_max_channel_id_length. Every item must be valid, else the
// error (and no items).
std::variant<std::vector<Item>, PublishError> parse_publish_body(std::string_view body,
                                                                 size_t max_channel_id_length);

// Packs an item for the shared segment, and unpacks it. The bytes are a private format of this
// build (a version byte first; layout in item.cc), not for disk or the network. unpack_item()
// returns nullopt for bytes pack_item() did not produce (wrong version, truncated, trailing
// bytes): the segment is shared with code that may have crashed mid-write.
std::string pack_item(const Item& item);
std::optional<Item> unpack_item(std::string_view bytes);

}  // namespace pushrelay::grip
