// protocol/message_id.h — message identity as it travels in HTTP headers.
//
// Owns the mapping between a message id (core::MessageId: time, tag) and the Last-Modified / Etag
// headers a subscriber receives and sends back as If-Modified-Since / If-None-Match. Used by the
// worker processes; shm/ stores ids but never sees these headers. The format, and how malformed
// values are read, is doc/protocol-formats.md §1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/message_id.h"

namespace pushrelay::protocol {

// The id a subscriber asks to follow, from its If-Modified-Since and If-None-Match values
// (nullptr when the header is absent; the pointers need only live for the call).
//   - no If-Modified-Since: nullopt, meaning "the oldest stored message";
//   - a malformed If-Modified-Since: time 0, so that every stored message is newer;
//   - If-None-Match absent or not an integer: tag 0; `3`, `"3"` and `W/"3"` all mean 3.
std::optional<core::MessageId> parse_message_id(const std::string* if_modified_since,
                                                const std::string* if_none_match);

// The Etag header value for `tag`: the unquoted decimal integer (compat with the push module).
std::string format_etag(uint32_t tag);

// `<time>:<tag>`, the id of transports.md "Message id" (EventSource id:, WebSocket meta id:).
std::string format_message_id(core::MessageId id);

}  // namespace pushrelay::protocol
