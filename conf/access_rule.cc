#include "conf/access_rule.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "conf/values.h"

namespace pushrelay::conf {
namespace {

// Whether the first prefix_len bits of a and b agree.
bool same_prefix(const uint8_t* a, const uint8_t* b, unsigned prefix_len) {
    unsigned whole = prefix_len / 8;
    if (std::memcmp(a, b, whole) != 0) {
        return false;
    }
    unsigned rest = prefix_len % 8;
    if (rest == 0) {
        return true;
    }
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

void clear_host_bits(std::array<uint8_t, 16>* address, unsigned prefix_len) {
    for (unsigned bit = prefix_len; bit < address->size() * 8; ++bit) {
        (*address)[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    }
}

}  // namespace

bool AccessRule::matches(const sockaddr* peer) const {
    if (all) {
        return true;
    }
    if (peer->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(peer);
        return family == AF_INET && same_prefix(reinterpret_cast<const uint8_t*>(&in->sin_addr),
                                                address.data(), prefix_len);
    }
    if (peer->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(peer);
        const uint8_t* bytes = in6->sin6_addr.s6_addr;
        if (family == AF_INET) {
            return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
                   same_prefix(bytes + 12, address.data(), prefix_len);
        }
        return same_prefix(bytes, address.data(), prefix_len);
    }
    return false;
}

std::optional<AccessRule> parse_access_rule(bool allow, std::string_view text) {
    AccessRule rule;
    rule.allow = allow;
    if (text == "all") {
        rule.all = true;
        return rule;
    }
    size_t slash = text.find('/');
    std::string host(text.substr(0, slash));
    if (inet_pton(AF_INET, host.c_str(), rule.address.data()) == 1) {
        rule.family = AF_INET;
    } else if (inet_pton(AF_INET6, host.c_str(), rule.address.data()) == 1) {
        rule.family = AF_INET6;
    } else {
        return std::nullopt;
    }
    unsigned max_prefix = rule.family == AF_INET ? 32 : 128;
    rule.prefix_len = max_prefix;
    if (slash != std::string_view::npos) {
        std::optional<uint32_t> len = parse_count(text.substr(slash + 1));
        if (!len || *len > max_prefix) {
            return std::nullopt;
        }
        rule.prefix_len = *len;
    }
    clear_host_bits(&rule.address, rule.prefix_len);
    return rule;
}

}  // namespace pushrelay::conf
