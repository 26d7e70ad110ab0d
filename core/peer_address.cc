#include "core/peer_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace pushrelay::core {

std::string peer_address(const sockaddr* peer) {
    char text[INET6_ADDRSTRLEN] = "-";
    if (peer->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr, text,
                  sizeof text);
    } else if (peer->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr, text,
                  sizeof text);
    }
    return text;
}

std::string_view binary_peer_address(const sockaddr* peer) {
    if (peer->sa_family == AF_INET) {
        const auto& addr = reinterpret_cast<const sockaddr_in*>(peer)->sin_addr;
        return {reinterpret_cast<const char*>(&addr), sizeof addr};
    }
    if (peer->sa_family == AF_INET6) {
        const auto& addr = reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr;
        return {reinterpret_cast<const char*>(&addr), sizeof addr};
    }
    return {};
}

}  // namespace pushrelay::core
