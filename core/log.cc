#include "core/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace pushrelay::log {
namespace {

struct Sink {
    int fd = STDERR_FILENO;
    std::string path = "stderr";
    Level level = Level::Notice;
    int slot = 0;
};

Sink sink;

const char* level_name(Level level) {
    static const char* const names[] = {"debug", "info", "notice", "warn",
                                        "error", "crit", "alert",  "emerg"};
    return names[static_cast<int>(level)];
}

// Returns the new descriptor, or -1 with errno set.
int open_path(const std::string& path) {
    if (path == "stderr")
        return STDERR_FILENO;
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

std::string replace_sink_fd(const std::string& path) {
    int fd = open_path(path);
    if (fd < 0)
        return "open(\"" + path + "\") failed: " + std::strerror(errno);
    if (sink.fd != STDERR_FILENO && sink.fd != fd)
        ::close(sink.fd);
    sink.fd = fd;
    sink.path = path;
    return "";
}

}  // namespace

std::string open(const std::string& path, Level level) {
    std::string err = replace_sink_fd(path);
    if (err.empty())
        sink.level = level;
    return err;
}

std::string reopen() {
    return replace_sink_fd(sink.path);
}

void set_process_tag(int worker_slot) {
    sink.slot = worker_slot;
}

int fd() {
    return sink.fd;
}

bool enabled(Level level) {
    return level >= sink.level;
}

void write(Level level, const char* fmt, ...) {
    char line[4096];
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    int n = static_cast<int>(strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S", &tm));
    n += snprintf(line + n, sizeof line - n, " [%s] %d#%d: ", level_name(level),
                  static_cast<int>(getpid()), sink.slot);
    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = body < 0 ? n : std::min<int>(n + body, sizeof line - 2);
    line[n++] = '\n';
    // A short or failed write of a log line has nowhere better to be reported.
    [[maybe_unused]] ssize_t w = ::write(sink.fd, line, n);
}

std::string escape(std::string_view bytes) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size());
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace pushrelay::log
