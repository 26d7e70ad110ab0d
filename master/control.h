// The pid file and the `-s` signals: how a second invocation of pushrelay
// finds the running master, and how the master records itself.
#pragma once

#include <string>

namespace pushrelay::master {

// Sends the signal named by -s (stop, quit, reload, reopen, upgrade)
// to the pid read from `pid_path`. Returns an error text or "".
std::string send_signal(const std::string& pid_path, const std::string& name);

// Writes our pid to `pid_path` (atomically, through a temp file + rename).
std::string write_pid_file(const std::string& pid_path);

// Removes the pid file if it still names this process.
void remove_pid_file(const std::string& pid_path);

// Detaches from the terminal: fork, setsid, stdin/stdout/stderr to /dev/null.
// Returns in the daemon only; the parent exits 0. Error text or "".
std::string daemonize();

}  // namespace pushrelay::master
