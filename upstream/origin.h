// upstream/origin.h — the address of an origin server, resolved once.
//
// The conf (master process, at load) resolves `push_grip_proxy http://host:port` with
// resolve_origin() and hands the workers the Origin; nothing resolves names on a worker's loop
// (getaddrinfo blocks). Pure values: no sockets are opened here.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::upstream {

// A socket address to connect() to. Trivially copyable, so it can travel in any settings struct.
struct Origin {
    sockaddr_storage address{};
    socklen_t length = 0;
};

// resolve_origin()'s result: `origin` on success, else `error` says why.
struct Resolved {
    std::optional<Origin> origin;
    std::string error;
};

// `host` is an IPv4 literal, an IPv6 literal with or without brackets ("[::1]", "::1"), or a
// name, resolved with getaddrinfo() (blocking: call it at conf load, never on a worker's loop).
// A name with several addresses gives the first one getaddrinfo() prefers (RFC 6724 order):
// nginx would round-robin over them, which the GRIP proxy does not need (**decision**).
Resolved resolve_origin(std::string_view host, uint16_t port);

// "127.0.0.1:3000" or "[::1]:3000", for log lines.
std::string origin_text(const Origin& origin);

}  // namespace pushrelay::upstream
