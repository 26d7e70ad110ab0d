// systemd's readiness protocol (sd_notify(3)), spoken directly: one datagram
// per state change to the AF_UNIX socket named by $NOTIFY_SOCKET. Without that
// variable (not started by systemd) every call does nothing. Master only.
#pragma once

#include <string>

namespace pushrelay::master {

// Sends `state` ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...", lines
// joined by '\n'). Returns an error text or "" (also when there is no socket).
std::string notify_systemd(const std::string& state);

// "RELOADING=1" with the MONOTONIC_USEC that Type=notify-reload asks for.
std::string reloading_state();

}  // namespace pushrelay::master
