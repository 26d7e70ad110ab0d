// allow/deny rules: who may use a location, by peer address.
//
// Owned by conf/: parsed from the conf in the master, evaluated by workers on every accepted
// request (HttpSettings::allowed). Immutable after load; no locks, no allocation when matching.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pushrelay::conf {

// One `allow` or `deny` line: `all`, an address, or address/prefix (CIDR).
struct AccessRule {
    bool allow = false;                 // allow: let the peer in; deny: 403
    bool all = false;                   // matches every peer, whatever its family
    int family = AF_INET;               // AF_INET or AF_INET6, unless all
    std::array<uint8_t, 16> address{};  // network order; host bits beyond prefix_len are zero
    unsigned prefix_len = 0;            // 0..32 (AF_INET) or 0..128 (AF_INET6)

    // Whether peer falls in this rule. An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches IPv4
    // rules; a peer of another family (AF_UNIX) matches only `all`. peer must be a valid
    // sockaddr of its family for the duration of the call.
    bool matches(const sockaddr* peer) const;
};

// Parses the argument of `allow` / `deny`: "all", "10.1.2.3", "10.0.0.0/8", "::1/128".
// Host bits below the prefix are cleared, as nginx does. Empty when text is none of these.
std::optional<AccessRule> parse_access_rule(bool allow, std::string_view text);

}  // namespace pushrelay::conf
