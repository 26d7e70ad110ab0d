// Listening sockets: the master binds every `listen` of the conf before it
// forks, and workers inherit the descriptors. Keeping them in the master is
// what lets a reload (or a worker's death) refuse no connection attempt.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "conf/conf.h"
#include "core/worker_context.h"

namespace pushrelay::master {

// Binds and listens on every listen address of every server of `config`,
// with its so_keepalive set on the listening socket (accepted sockets
// inherit it). Returns one core::Listener per address, pointing into
// `config`, or an error naming the address and the failing call ("bind() to
// 127.0.0.1:80 failed (13: Permission denied)"); on error nothing stays open.
std::variant<std::vector<core::Listener>, std::string> open_listeners(const conf::Config& config);

// For a reload: listeners for `config` that take over the descriptor of every
// address already open in `current` (its pending connections stay queued,
// so no connection attempt is refused), bind only the new addresses, then give
// the kept sockets the new backlog and so_keepalive. On error the newly bound
// sockets are closed and `current` is untouched, unless that last step failed
// part way (a setsockopt() refusing values the conf has range-checked).
std::variant<std::vector<core::Listener>, std::string> reopen_listeners(
    const conf::Config& config, const std::vector<core::Listener>& current);

// Closes the sockets of `old` that `kept` does not use any more.
void close_unused_listeners(const std::vector<core::Listener>& old,
                            const std::vector<core::Listener>& kept);

void close_listeners(std::vector<core::Listener>& listeners);

}  // namespace pushrelay::master
