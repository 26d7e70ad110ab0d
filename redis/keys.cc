#include "redis/keys.h"

#include <cstdint>

namespace pushrelay::redis {

std::string escape_channel_key(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (char c : key) {
        switch (c) {
            case '%':
                out += "%25";
                break;
            case '{':
                out += "%7B";
                break;
            case '}':
                out += "%7D";
                break;
            default:
                out += c;
        }
    }
    return out;
}

ChannelKeys channel_keys(std::string_view ns, std::string_view key) {
    const std::string base = std::string(ns) + ":{" + escape_channel_key(key) + "}";
    return {base + ":c", base + ":m", base + ":r", base + ":i", base + ":x", base};
}

std::string run_key(std::string_view ns) {
    return std::string(ns) + ":run";
}

namespace {

// CRC16-CCITT (XMODEM), the checksum Redis Cluster takes of a key's hash tag.
std::uint16_t crc16(std::string_view bytes) {
    std::uint16_t crc = 0;
    for (unsigned char byte : bytes) {
        crc ^= static_cast<std::uint16_t>(byte << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<std::uint16_t>(crc << 1);
    }
    return crc;
}

// The part of `key` Redis Cluster hashes: what lies between the first '{' and the first '}'
// after it, when that is not empty; else the whole key.
std::string_view hash_tag(std::string_view key) {
    const std::size_t open = key.find('{');
    if (open == std::string_view::npos)
        return key;
    const std::size_t close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1)
        return key;
    return key.substr(open + 1, close - open - 1);
}

}  // namespace

unsigned cluster_slot(std::string_view key) {
    return crc16(hash_tag(key)) & 16383;
}

}  // namespace pushrelay::redis
