#include "master/upgrade.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace pushrelay::master {
namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end - start));
        if (end == std::string_view::npos)
            return parts;
        start = end + 1;
    }
}

// A descriptor number, or -1 when `text` is not one.
int parse_fd(std::string_view text) {
    if (text.empty() || text.size() > 9)
        return -1;
    int fd = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return -1;
        fd = fd * 10 + (c - '0');
    }
    return fd;
}

std::string bad(std::string_view what, std::string_view text) {
    return std::string(kInheritVariable) + ": bad " + std::string(what) + " \"" +
           std::string(text) + "\"";
}

std::variant<std::vector<core::Listener>, std::string> decode_listeners(std::string_view text) {
    std::vector<core::Listener> listeners;
    if (text.empty())
        return listeners;
    for (std::string_view item : split(text, ',')) {
        size_t colon = item.find(':');
        int fd = colon == std::string_view::npos ? -1 : parse_fd(item.substr(0, colon));
        if (fd < 0 || colon + 1 == item.size())
            return bad("listen", item);
        listeners.push_back({fd, nullptr, std::string(item.substr(colon + 1))});
    }
    return listeners;
}

std::variant<std::vector<int>, std::string> decode_fds(std::string_view text) {
    std::vector<int> fds;
    for (std::string_view item : split(text, ',')) {
        int fd = parse_fd(item);
        if (fd < 0)
            return bad("descriptor", item);
        fds.push_back(fd);
    }
    return fds;
}

// A node id: decimal, at most 53 bits (scale-out.md: Lua's numbers hold it exactly).
std::optional<std::uint64_t> parse_node_id(std::string_view text) {
    if (text.empty() || text.size() > 16)
        return std::nullopt;
    std::uint64_t id = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        id = id * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (id >> 53 != 0)
        return std::nullopt;
    return id;
}

std::variant<std::array<int, 2>, std::string> decode_relay_fds(std::string_view text) {
    auto fds = decode_fds(text);
    if (auto* err = std::get_if<std::string>(&fds))
        return *err;
    const std::vector<int>& pair = std::get<std::vector<int>>(fds);
    if (pair.size() != 2)
        return bad("relay socketpair (two descriptors expected)", text);
    return std::array<int, 2>{pair[0], pair[1]};
}

bool clear_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    return flags >= 0 && fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) == 0;
}

// In the forked child only: nothing here returns on success.
[[noreturn]] void become_new_binary(const Invocation& invocation, const Handover& handover) {
    bool handed = clear_cloexec(handover.segment_fd);
    for (const core::Listener& l : handover.listeners) handed = handed && clear_cloexec(l.fd);
    for (int fd : handover.wake_fds) handed = handed && clear_cloexec(fd);
    if (handover.relay_fds)
        for (int fd : *handover.relay_fds) handed = handed && clear_cloexec(fd);
    if (!handed || setenv(kInheritVariable, encode_handover(handover).c_str(), 1) != 0)
        _exit(127);
    // The master blocks the signals it handles; exec keeps the mask, and the new master sets its
    // own from nothing.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    for (const std::string& arg : invocation.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(invocation.path.c_str(), argv.data());
    _exit(127);
}

}  // namespace

std::string encode_handover(const Handover& handover) {
    std::string text = "listen=";
    for (size_t i = 0; i < handover.listeners.size(); i++) {
        const core::Listener& l = handover.listeners[i];
        text += (i == 0 ? "" : ",") + std::to_string(l.fd) + ":" + l.name;
    }
    text += ";segment=" + std::to_string(handover.segment_fd) + ";wake=";
    for (size_t i = 0; i < handover.wake_fds.size(); i++)
        text += (i == 0 ? "" : ",") + std::to_string(handover.wake_fds[i]);
    if (handover.relay_fds)
        text += ";relay=" + std::to_string((*handover.relay_fds)[0]) + "," +
                std::to_string((*handover.relay_fds)[1]);
    if (handover.node_id)
        text += ";node=" + std::to_string(*handover.node_id);
    return text;
}

std::variant<Handover, std::string> decode_handover(std::string_view text) {
    Handover handover;
    bool have_listen = false, have_segment = false, have_wake = false;
    for (std::string_view field : split(text, ';')) {
        size_t eq = field.find('=');
        std::string_view name = field.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? "" : field.substr(eq + 1);
        if (name == "listen" && !have_listen) {
            auto listeners = decode_listeners(value);
            if (auto* err = std::get_if<std::string>(&listeners))
                return *err;
            handover.listeners = std::move(std::get<std::vector<core::Listener>>(listeners));
            have_listen = true;
        } else if (name == "segment" && !have_segment) {
            handover.segment_fd = parse_fd(value);
            if (handover.segment_fd < 0)
                return bad("segment", value);
            have_segment = true;
        } else if (name == "wake" && !have_wake) {
            auto fds = decode_fds(value);
            if (auto* err = std::get_if<std::string>(&fds))
                return *err;
            handover.wake_fds = std::move(std::get<std::vector<int>>(fds));
            if (handover.wake_fds.size() != core::kMaxWorkerSlots)
                return bad("wake list (one descriptor per worker slot expected)", value);
            have_wake = true;
        } else if (name == "relay" && !handover.relay_fds) {
            auto fds = decode_relay_fds(value);
            if (auto* err = std::get_if<std::string>(&fds))
                return *err;
            handover.relay_fds = std::get<std::array<int, 2>>(fds);
        } else if (name == "node" && !handover.node_id) {
            handover.node_id = parse_node_id(value);
            if (!handover.node_id)
                return bad("node id", value);
        } else {
            return bad("field", field);
        }
    }
    if (!have_listen || !have_segment || !have_wake)
        return bad("handover (listen, segment and wake are all needed)", text);
    return handover;
}

Invocation capture_invocation(int argc, char** argv) {
    Invocation invocation;
    for (int i = 0; i < argc; i++) invocation.argv.emplace_back(argv[i]);
    // The link names the file by the path it had at start; read later, it would name the old
    // inode as "... (deleted)" once a package upgrade replaced the file.
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    invocation.path = n > 0 ? std::string(path, static_cast<size_t>(n))
                            : (argc > 0 ? std::string(argv[0]) : std::string());
    return invocation;
}

std::variant<pid_t, std::string> exec_new_binary(const Invocation& invocation,
                                                 const Handover& handover) {
    pid_t pid = fork();
    if (pid < 0)
        return std::string("fork() failed: ") + std::strerror(errno);
    if (pid == 0)
        become_new_binary(invocation, handover);
    return pid;
}

}  // namespace pushrelay::master
