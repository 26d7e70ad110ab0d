// Binary upgrade on USR2, as nginx's: the running master fork+execs its binary (the file at the
// path it was started from, which a package upgrade may have replaced) with the same arguments,
// handing it the listening sockets, the shared segment's memfd, the workers' wake eventfds and
// the Redis relay's socketpair by descriptor, and the node's id, listed in the environment
// variable PUSHRELAY_INHERIT. The new master adopts them
// instead of binding and creating its own, so no connection is refused and no message is lost;
// both masters then serve from the one segment until the old one is told to QUIT.
//
// This module owns the handover's description (its text form is pure, unit-tested) and the
// fork+exec; master.cc decides when, and what to adopt.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/worker_context.h"

namespace pushrelay::master {

inline constexpr const char* kInheritVariable = "PUSHRELAY_INHERIT";

// What an old master hands over. Listeners carry their fd and name only (server is null: the
// new master matches them against its own conf by name).
struct Handover {
    std::vector<core::Listener> listeners;
    int segment_fd = -1;
    std::vector<int> wake_fds;  // one per worker slot, in slot order
    // Redis mode's: the relay socketpair (read end, write end) and the node id. Absent when an
    // older binary handed over: the new master then makes its own.
    std::optional<std::array<int, 2>> relay_fds;
    std::optional<std::uint64_t> node_id;
};

// "listen=3:127.0.0.1:8080,4:[::1]:8081;segment=7;wake=8,9,...;relay=72,73;node=12345". A
// listen name holds no ',' or ';' (conf::Listen::describe()). relay and node are optional.
std::string encode_handover(const Handover& handover);

// The handover `text` describes, or an error quoting what is wrong. Checks the form only, not
// that the descriptors are open.
std::variant<Handover, std::string> decode_handover(std::string_view text);

// How this binary was started, for running it again: its path as resolved at start (not
// /proc/self/exe later, which names the replaced inode after a package upgrade) and its argv.
struct Invocation {
    std::string path;
    std::vector<std::string> argv;
};

// Captures the invocation; call before anything changes the working directory.
Invocation capture_invocation(int argc, char** argv);

// Forks a child that clears close-on-exec on the handed-over descriptors, sets
// PUSHRELAY_INHERIT, unblocks every signal and execs `invocation`. The child's pid, or an error
// naming the failing call. The child's own exec failure shows as its exit status 127.
std::variant<pid_t, std::string> exec_new_binary(const Invocation& invocation,
                                                 const Handover& handover);

}  // namespace pushrelay::master
