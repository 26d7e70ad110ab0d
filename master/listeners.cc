#include "master/listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "core/unique_fd.h"

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

// The kernel's keepalive setting in /proc/sys/net/ipv4 (it governs IPv6 TCP too), or nothing if
// it cannot be read.
std::optional<int> kernel_keepalive_setting(const char* name) {
    std::ifstream in(std::string("/proc/sys/net/ipv4/") + name);
    int value = 0;
    return in >> value ? std::optional(value) : std::nullopt;
}

std::optional<int> as_int(std::optional<std::chrono::seconds> time) {
    return time ? std::optional(static_cast<int>(time->count())) : std::nullopt;
}

std::optional<int> as_int(std::optional<uint32_t> n) {
    return n ? std::optional(static_cast<int>(*n)) : std::nullopt;
}

struct KeepaliveTimer {
    int option;                // TCP_KEEPIDLE, TCP_KEEPINTVL or TCP_KEEPCNT
    const char* call;          // for the error text
    const char* kernel_name;   // its default, in /proc/sys/net/ipv4
    std::optional<int> value;  // the conf's; empty for the kernel's
};

// so_keepalive on a listening socket, new or kept across a reload: the sockets accept() returns
// inherit it (Linux copies SO_KEEPALIVE and the TCP_KEEP* values), so workers set nothing. A
// timer the conf leaves to the kernel is set to the kernel's value rather than left alone: a
// socket kept across a reload may carry an older conf's, and setsockopt() cannot unset one. The
// conf has checked its values against Linux's limits. Error text or "".
std::string apply_keepalive(int fd, const conf::Listen& listen) {
    const conf::Keepalive& keepalive = listen.keepalive;
    int on = keepalive.on ? 1 : 0;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0) {
        return failure("setsockopt(SO_KEEPALIVE)", listen);
    }
    if (!keepalive.on) {
        return "";
    }
    const KeepaliveTimer timers[] = {
        {TCP_KEEPIDLE, "setsockopt(TCP_KEEPIDLE)", "tcp_keepalive_time", as_int(keepalive.idle)},
        {TCP_KEEPINTVL, "setsockopt(TCP_KEEPINTVL)", "tcp_keepalive_intvl",
         as_int(keepalive.interval)},
        {TCP_KEEPCNT, "setsockopt(TCP_KEEPCNT)", "tcp_keepalive_probes", as_int(keepalive.probes)},
    };
    for (const KeepaliveTimer& timer : timers) {
        std::optional<int> value =
            timer.value ? timer.value : kernel_keepalive_setting(timer.kernel_name);
        if (value && setsockopt(fd, IPPROTO_TCP, timer.option, &*value, sizeof *value) < 0) {
            return failure(timer.call, listen);
        }
    }
    return "";
}

// A socket kept across a reload takes the new conf's backlog (listen() on a listening socket
// updates it) and keepalive.
std::string update_kept(int fd, const conf::Listen& listen) {
    if (::listen(fd, listen.backlog) < 0) {
        return failure("listen()", listen);
    }
    return apply_keepalive(fd, listen);
}

std::variant<int, std::string> open_one(const conf::Listen& listen) {
    sockaddr_storage ss;
    socklen_t len = make_address(listen, ss);
    core::UniqueFd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd)
        return failure("socket()", listen);
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // An IPv6 wildcard must not also take the IPv4 port another listen may want.
    if (listen.ipv6)
        setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (listen.reuseport && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
        return failure("setsockopt(SO_REUSEPORT)", listen);
    if (std::string err = apply_keepalive(fd.get(), listen); !err.empty())
        return err;
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
        return failure("bind()", listen);
    if (::listen(fd.get(), listen.backlog) < 0)
        return failure("listen()", listen);
    // From here the descriptor is the Listener's, closed by close_listeners().
    return fd.release();
}

}  // namespace

std::variant<std::vector<core::Listener>, std::string> open_listeners(const conf::Config& config) {
    return reopen_listeners(config, {});
}

std::variant<std::vector<core::Listener>, std::string> reopen_listeners(
    const conf::Config& config, const std::vector<core::Listener>& current) {
    std::vector<core::Listener> listeners;
    std::vector<core::Listener> opened;  // closed again if a later bind fails
    std::vector<std::pair<int, const conf::Listen*>> kept;
    for (const conf::Server& server : config.servers) {
        for (const conf::Listen& listen : server.listens) {
            std::string name = listen.describe();
            auto same = std::find_if(current.begin(), current.end(),
                                     [&](const core::Listener& l) { return l.name == name; });
            if (same != current.end()) {
                listeners.push_back({same->fd, &server, name});
                kept.emplace_back(same->fd, &listen);
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
    // Only once every new address is bound (the failure a reload meets in practice), so that a
    // failed reload leaves the kept sockets as they were.
    for (const auto& [fd, listen] : kept) {
        if (std::string err = update_kept(fd, *listen); !err.empty()) {
            close_listeners(opened);
            return err;
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
