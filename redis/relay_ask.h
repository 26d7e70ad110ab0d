// redis/relay_ask.h — what a worker asks of its node's relay process: "make channel `key` live in
// this node's cache" (shared/scale-out.md "Processes and connections"), one datagram on the
// relay's socket. Pure: the bytes and their reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::redis {

struct RelayAsk {
    std::string key;         // group + "/" + id
    bool may_create = true;  // push_authorized_channels_only off
    std::int64_t channel_timeout_ms = 0;
};

std::string encode_ask(const RelayAsk& ask);
// nullopt: not an ask of this version (a truncated or foreign datagram).
std::optional<RelayAsk> decode_ask(std::string_view bytes);

}  // namespace pushrelay::redis
