// redis/relay_ask.h — what a worker asks of its node's relay process: "make channel `key` live in
// this node's cache" (shared/scale-out.md "Processes and connections"), one datagram on the
// relay's socket; and the master's word on the same socket that a relay exited. Pure: the bytes
// and their reading.
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

// The master's datagram after it reaped a relay: the channels that relay alone held subscribed
// may be live in the cache with nobody feeding them, so the relay that reads it takes on every
// channel the cache serves (as a relay does at start). Two relays read the socket while a reload
// replaces one or while both masters of an upgrade run.
std::string encode_relay_gone();
bool is_relay_gone(std::string_view bytes);

}  // namespace pushrelay::redis
