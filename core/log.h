// The error log: one process-wide sink shared by the master and its workers.
//
// The master opens it before forking, so workers inherit the descriptor;
// `reopen()` (USR1) opens the path again in whichever process calls it.
// Lines look like nginx's: "2026/11/22 10:00:00 [error] 1234#0: message".
// Writes are single write(2) calls on an O_APPEND descriptor, so lines from
// several processes never interleave. Not thread-safe: pushrelay has no threads.
#pragma once

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pushrelay::log {

// nginx's severities, least severe first (error_log's level drops what is below it).
enum class Level : std::uint8_t { Debug, Info, Notice, Warn, Error, Crit, Alert, Emerg };

// Opens `path` ("stderr" means standard error) for appending; lines below
// `level` are dropped. Returns an error text on failure and keeps the old sink.
std::string open(const std::string& path, Level level);

// Opens the same path again (after logrotate renamed it). Error text or "".
std::string reopen();

// The worker number printed after the pid ("1234#2"); the master is 0.
void set_process_tag(int worker_slot);

// The current descriptor, for the crash handler (worker/crash.h): a plain read, signal-safe.
int fd();

bool enabled(Level level);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Client-supplied bytes (channel ids, header values) made safe for a log
// line: non-printable bytes, quotes and backslashes become \xNN.
std::string escape(std::string_view bytes);

}  // namespace pushrelay::log

#define LOG_PRINT(level, ...)                            \
    do {                                                 \
        if (::pushrelay::log::enabled(level))            \
            ::pushrelay::log::write(level, __VA_ARGS__); \
    } while (0)
#define LOG_ERROR(...) LOG_PRINT(::pushrelay::log::Level::Error, __VA_ARGS__)
#define LOG_WARN(...) LOG_PRINT(::pushrelay::log::Level::Warn, __VA_ARGS__)
#define LOG_NOTICE(...) LOG_PRINT(::pushrelay::log::Level::Notice, __VA_ARGS__)
#define LOG_INFO(...) LOG_PRINT(::pushrelay::log::Level::Info, __VA_ARGS__)
#define LOG_ALERT(...) LOG_PRINT(::pushrelay::log::Level::Alert, __VA_ARGS__)
// "CALL failed (ERRNO: TEXT)", the way nginx names a failing system call.
#define LOG_ALERT_ERRNO(call) LOG_ALERT("%s failed (%d: %s)", call, errno, ::strerror(errno))
#define LOG_DEBUG(...) LOG_PRINT(::pushrelay::log::Level::Debug, __VA_ARGS__)
