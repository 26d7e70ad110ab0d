#include "upstream/origin.h"

#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

#include "core/peer_address.h"

namespace pushrelay::upstream {

Resolved resolve_origin(std::string_view host, uint16_t port) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) {
        return {std::nullopt, "empty host name"};
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string name(host);
    const std::string service = std::to_string(port);
    if (int rc = getaddrinfo(name.c_str(), service.c_str(), &hints, &found); rc != 0) {
        return {std::nullopt, "cannot resolve \"" + name + "\": " + gai_strerror(rc)};
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, freeaddrinfo);
    Origin origin;
    std::memcpy(&origin.address, found->ai_addr, found->ai_addrlen);
    origin.length = found->ai_addrlen;
    return {origin, {}};
}

std::string origin_text(const Origin& origin) {
    const auto* sa = reinterpret_cast<const sockaddr*>(&origin.address);
    std::string host = core::peer_address(sa);
    uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        port = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        port = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
        host = "[" + host + "]";
    }
    return host + ":" + std::to_string(port);
}

}  // namespace pushrelay::upstream
