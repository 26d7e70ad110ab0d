#include "redis/relay_ask.h"

#include <cstring>

namespace pushrelay::redis {
namespace {

// Version byte, flags byte, channel_timeout_ms (8 bytes), then the key.
// Host byte order: the datagram never leaves the machine.
constexpr std::uint8_t kAskVersion = 1;
constexpr std::size_t kHeader = 2 + sizeof(std::int64_t);
// The relay-gone datagram: this one byte, which no ask starts with (nor is as short as).
constexpr std::uint8_t kRelayGone = 0xfe;

}  // namespace

std::string encode_ask(const RelayAsk& ask) {
    std::string out(kHeader, '\0');
    out[0] = static_cast<char>(kAskVersion);
    out[1] = static_cast<char>(ask.may_create ? 1 : 0);
    std::memcpy(out.data() + 2, &ask.channel_timeout_ms, sizeof ask.channel_timeout_ms);
    out += ask.key;
    return out;
}

std::optional<RelayAsk> decode_ask(std::string_view bytes) {
    if (bytes.size() <= kHeader || static_cast<std::uint8_t>(bytes[0]) != kAskVersion)
        return std::nullopt;
    RelayAsk ask;
    ask.may_create = bytes[1] != 0;
    std::memcpy(&ask.channel_timeout_ms, bytes.data() + 2, sizeof ask.channel_timeout_ms);
    ask.key = bytes.substr(kHeader);
    return ask;
}

std::string encode_relay_gone() {
    return std::string(1, static_cast<char>(kRelayGone));
}

bool is_relay_gone(std::string_view bytes) {
    return bytes.size() == 1 && static_cast<std::uint8_t>(bytes[0]) == kRelayGone;
}

}  // namespace pushrelay::redis
