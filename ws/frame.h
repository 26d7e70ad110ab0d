// ws/frame.h — server frames as bytes, and the UTF-8 rule of text frames.
//
// A message's frame is encoded once (through wslay's frame layer, never by hand) and the same
// bytes are queued on every session that receives it: ten thousand subscribers share one buffer
// per message and variant. Pure functions, single-threaded (the encoder reuses one wslay context
// per process, and the worker is one thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/output_queue.h"

namespace pushrelay::ws {

enum class Opcode : std::uint8_t { Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xa };

// Close codes pushrelay sends (RFC 6455 §7.4.1, and 1012 from the IANA registry).
enum CloseCode : std::uint16_t {
    kNormal = 1000,
    kGoingAway = 1001,
    kProtocolError = 1002,
    kInvalidPayload = 1007,
    kPolicyViolation = 1008,
    kMessageTooBig = 1009,
    kServiceRestart = 1012,
};

// One unmasked server frame: FIN set, RSV 0, the length in 7, 7+16 or 7+64 bits as RFC 6455
// §5.2 requires. Precondition: control frames (Close, Ping, Pong) carry at most 125 bytes.
std::string encode_frame(Opcode opcode, std::string_view payload);
core::SharedBytes shared_frame(Opcode opcode, std::string_view payload);

// A close frame: the code in network order then `reason`; code 0 gives an empty payload (a
// close without status). Precondition: reason.size() <= 123.
std::string encode_close(std::uint16_t code, std::string_view reason);

// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view bytes);

}  // namespace pushrelay::ws
