// Listening sockets: the master binds every `listen` of the conf before it
// forks, and workers inherit the descriptors. Keeping them in the master is
// what lets a reload (or a worker's death) refuse no connection attempt.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "conf/conf.h"
#include "worker/worker.h"

namespace pushrelay::master {

// Binds and listens on every listen address of every server of `config`.
// Returns one worker::Listener per address, pointing into `config`, or an
// error naming the address and the failing call ("bind() to 127.0.0.1:80
// failed (13: Permission denied)"); on error nothing stays open.
std::variant<std::vector<worker::Listener>, std::string> open_listeners(const conf::Config& config);

void close_listeners(std::vector<worker::Listener>& listeners);

}  // namespace pushrelay::master
