// Messages in the segment: allocation, references and pins. Internal to shm/.
//
// Every function but message_at() must be called with Root::lock held; message_at() only
// computes an address and may be used without it.
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/layout.h"

namespace pushrelay::shm {

// A new message holding one reference (the caller's), or nullptr when the segment is full.
// Header, content type and body are one allocation.
Message* new_message(Root& root, MessageId id, std::string_view content_type, std::string_view body,
                     std::int64_t expires_at_ms) noexcept;

// Adds a reference to `message` and returns it as a pin.
MessagePin pin_message(Root& root, Message& message) noexcept;

// Drops one reference; the last one frees the message.
void unref_message(Root& root, Message& message) noexcept;

// The message a pin refers to. Precondition: the pin is set and still held.
Message& message_at(const Root& root, const MessagePin& pin) noexcept;

}  // namespace pushrelay::shm
