#include "http/access_log.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <unordered_map>

#include "core/log.h"
#include "core/peer_address.h"

namespace pushrelay::http::access_log {
namespace {

// path → descriptor, or -1 after a failed open (reported once, retried after reopen()).
std::unordered_map<std::string, int> files;

int file_for(const std::string& path) {
    auto it = files.find(path);
    if (it != files.end())
        return it->second;
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        LOG_ALERT("open() \"%s\" failed (%d: %s)", path.c_str(), errno, strerror(errno));
    files.emplace(path, fd);
    return fd;
}

std::string time_text(double now, const char* format) {
    time_t t = static_cast<time_t>(now);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, format, &tm);
    return buf;
}

std::string seconds_text(double seconds) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.3f", seconds);
    return buf;
}

// Escapes what a client sent, as nginx does for access logs: '"', '\' and
// bytes outside printable ASCII become \xNN.
std::string client_text(std::string_view text) {
    return text.empty() ? "-" : log::escape(text);
}

uint64_t request_length(const protocol::Request& r) {
    uint64_t n = r.method.size() + r.target.size() + 12;
    for (const protocol::Header& h : r.headers) n += h.name.size() + h.value.size() + 4;
    return n + 2 + r.body.size();
}

std::string variable(std::string_view name, const Entry& e) {
    const protocol::Request& r = e.request;
    if (name == "remote_addr")
        return core::peer_address(e.peer);
    if (name == "remote_user")
        return "-";
    if (name == "time_local")
        return time_text(e.now, "%d/%b/%Y:%H:%M:%S %z");
    if (name == "time_iso8601")
        return time_text(e.now, "%Y-%m-%dT%H:%M:%S%z");
    if (name == "msec")
        return seconds_text(e.now);
    if (name == "request") {
        return client_text(r.method + " " + r.target + " HTTP/" + std::to_string(r.http_major) +
                           "." + std::to_string(r.http_minor));
    }
    if (name == "request_method")
        return client_text(r.method);
    if (name == "request_uri")
        return client_text(r.target);
    if (name == "uri")
        return client_text(r.path);
    if (name == "args")
        return client_text(r.query);
    if (name == "status")
        return std::to_string(e.status);
    if (name == "body_bytes_sent")
        return std::to_string(e.body_bytes);
    if (name == "bytes_sent")
        return std::to_string(e.bytes);
    if (name == "request_time")
        return seconds_text(e.request_time);
    if (name == "request_length")
        return std::to_string(request_length(r));
    if (name == "pid")
        return std::to_string(getpid());
    if (name.substr(0, 5) == "http_") {
        std::string header(name.substr(5));
        for (char& c : header) c = c == '_' ? '-' : c;
        const std::string* value = r.header(header);
        return value ? client_text(*value) : "-";
    }
    return "-";
}

bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

std::string format_line(std::string_view format, const Entry& entry) {
    std::string line;
    for (size_t i = 0; i < format.size();) {
        if (format[i] != '$') {
            line.push_back(format[i++]);
            continue;
        }
        size_t start = ++i;
        bool braced = i < format.size() && format[i] == '{';
        if (braced)
            start = ++i;
        while (i < format.size() && is_name_char(format[i])) i++;
        line += variable(format.substr(start, i - start), entry);
        if (braced && i < format.size() && format[i] == '}')
            i++;
    }
    line.push_back('\n');
    return line;
}

void write(const conf::HttpSettings& settings, const Entry& entry) {
    if (settings.access_log_off || settings.access_log_path.empty())
        return;
    int fd = file_for(settings.access_log_path);
    if (fd < 0)
        return;
    std::string line = format_line(settings.access_log_format, entry);
    // A lost access log line has nowhere better to be reported.
    [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
}

void reopen() {
    for (auto& [path, fd] : files)
        if (fd >= 0)
            ::close(fd);
    files.clear();
}

}  // namespace pushrelay::http::access_log
