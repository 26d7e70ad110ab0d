#include "master/listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pushrelay::master {
namespace {

std::string failure(const char* call, const conf::Listen& listen) {
    int err = errno;
    return std::string(call) + " to " + listen.describe() + " failed (" + std::to_string(err) +
           ": " + std::strerror(err) + ")";
}

// sockaddr for a listen entry; the conf module has already validated the address.
socklen_t make_address(const conf::Listen& listen, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (listen.ipv6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(listen.port);
        inet_pton(AF_INET6, listen.address.c_str(), &sin6->sin6_addr);
        return sizeof *sin6;
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(listen.port);
    inet_pton(AF_INET, listen.address.c_str(), &sin->sin_addr);
    return sizeof *sin;
}

std::variant<int, std::string> open_one(const conf::Listen& listen) {
    sockaddr_storage ss;
    socklen_t len = make_address(listen, ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failure("socket()", listen);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // An IPv6 wildcard must not also take the IPv4 port another listen may want.
    if (listen.ipv6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (listen.reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
        std::string err = failure("setsockopt(SO_REUSEPORT)", listen);
        close(fd);
        return err;
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
        std::string err = failure("bind()", listen);
        close(fd);
        return err;
    }
    if (::listen(fd, listen.backlog) < 0) {
        std::string err = failure("listen()", listen);
        close(fd);
        return err;
    }
    return fd;
}

}  // namespace

std::variant<std::vector<core::Listener>, std::string> open_listeners(const conf::Config& config) {
    return reopen_listeners(config, {});
}

std::variant<std::vector<core::Listener>, std::string> reopen_listeners(
    const conf::Config& config, const std::vector<core::Listener>& current) {
    std::vector<core::Listener> listeners;
    std::vector<core::Listener> opened;  // closed again if a later bind fails
    for (const conf::Server& server : config.servers) {
        for (const conf::Listen& listen : server.listens) {
            std::string name = listen.describe();
            auto same = std::find_if(current.begin(), current.end(),
                                     [&](const core::Listener& l) { return l.name == name; });
            if (same != current.end()) {
                // The backlog may have changed; listen() on a listening socket updates it.
                ::listen(same->fd, listen.backlog);
                listeners.push_back({same->fd, &server, name});
                continue;
            }
            auto fd = open_one(listen);
            if (auto* err = std::get_if<std::string>(&fd)) {
                close_listeners(opened);
                return *err;
            }
            listeners.push_back({std::get<int>(fd), &server, name});
            opened.push_back(listeners.back());
        }
    }
    return listeners;
}

void close_unused_listeners(const std::vector<core::Listener>& old,
                            const std::vector<core::Listener>& kept) {
    for (const core::Listener& l : old) {
        bool used = std::any_of(kept.begin(), kept.end(),
                                [&](const core::Listener& k) { return k.fd == l.fd; });
        if (!used)
            close(l.fd);
    }
}

void close_listeners(std::vector<core::Listener>& listeners) {
    for (const core::Listener& l : listeners) close(l.fd);
    listeners.clear();
}

}  // namespace pushrelay::master
