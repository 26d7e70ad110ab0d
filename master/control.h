// The pid file and the `-s` signals: how a second invocation of pushrelay
// finds the running master, and how the master records itself.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace pushrelay::master {

// Sends the signal named by -s (stop, quit, reload, reopen, upgrade)
// to the pid read from `pid_path`. Returns an error text or "".
std::string send_signal(const std::string& pid_path, const std::string& name);

// How `-s upgrade` ended: its exit status and what it prints.
struct UpgradeOutcome {
    int status;  // kUpgraded, kUpgradeFailed or kNoMaster
    std::string message;
};
inline constexpr int kUpgraded = 0;       // the new master took over; the old one was told to QUIT
inline constexpr int kUpgradeFailed = 1;  // the old master serves on; its error log says why
inline constexpr int kNoMaster = 3;       // nothing to upgrade (LSB's "not running")

// `-s upgrade`, the whole handover as Debian's nginx does it in its upgrade action: USR2 to the
// master the pid file names, then waiting (at most `wait`) until a new master has written the
// pid file and forked `children` processes, then QUIT to the old one. A bare USR2 stops before
// the QUIT, for an operator who checks the new binary first and can still roll back.
UpgradeOutcome upgrade_master(const std::string& pid_path, int children,
                              std::chrono::milliseconds wait);

// Whether `pid` runs: a zombie (exited, not reaped yet) does not.
bool process_runs(pid_t pid);

// Writes our pid to `pid_path` (atomically, through a temp file + rename).
std::string write_pid_file(const std::string& pid_path);

// Removes the pid file if it still names this process.
void remove_pid_file(const std::string& pid_path);

// Detaches from the terminal: fork, setsid, stdin/stdout/stderr to /dev/null.
// Returns in the daemon only; the parent exits 0. Error text or "".
std::string daemonize();

}  // namespace pushrelay::master
