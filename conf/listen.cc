// The listen directive: `port`, `addr:port`, `[v6addr]:port`, `*:port`, `localhost:port`,
// then optionally `backlog=N`, `reuseport` and `so_keepalive=on|off|[idle]:[interval]:[count]`,
// each at most once.
#include <arpa/inet.h>

#include <array>
#include <climits>
#include <set>

#include "conf/directive_handlers.h"

namespace pushrelay::conf {
namespace {

constexpr std::string_view kBacklogOption = "backlog=";
constexpr std::string_view kKeepaliveOption = "so_keepalive=";

// Linux's limits (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT): setsockopt() refuses a
// larger value with EINVAL. Refused here instead, where the error can name the line.
constexpr std::chrono::seconds kMaxKeepaliveTime(32767);
constexpr uint32_t kMaxKeepaliveProbes = 127;

struct HostPort {
    std::string host;
    std::string_view port;
    bool ipv6 = false;
};

// Splits the address argument; empty if it has no port.
std::optional<HostPort> split_host_port(std::string_view text) {
    if (text.starts_with('[')) {
        size_t close = text.find("]:");
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        return HostPort{std::string(text.substr(1, close - 1)), text.substr(close + 2), true};
    }
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        bool bare_port = parse_count(text).has_value();
        return bare_port ? std::optional(HostPort{"0.0.0.0", text, false}) : std::nullopt;
    }
    std::string host(text.substr(0, colon));
    if (host == "*") {
        host = "0.0.0.0";
    } else if (host == "localhost") {
        host = "127.0.0.1";  // a name would need a resolver; this one is the common case
    }
    return HostPort{std::move(host), text.substr(colon + 1), false};
}

// The address in its canonical numeric form ("::0:1" → "::1"), so that duplicates compare.
std::optional<std::string> canonical_address(const std::string& host, bool ipv6) {
    int family = ipv6 ? AF_INET6 : AF_INET;
    unsigned char bytes[sizeof(in6_addr)];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(family, host.c_str(), bytes) != 1 ||
        inet_ntop(family, bytes, text, sizeof text) == nullptr) {
        return std::nullopt;
    }
    return std::string(text);
}

// A keepalive time in nginx's units, a whole number of seconds (what the socket options count)
// from 1s to Linux's limit. "" leaves *out empty, for the kernel's setting.
bool read_keepalive_time(std::string_view text, std::optional<std::chrono::seconds>* out) {
    if (text.empty()) {
        return true;
    }
    std::optional<Millis> time = parse_time(text);
    if (!time || *time < std::chrono::seconds(1) || *time > kMaxKeepaliveTime ||
        time->count() % 1000 != 0) {
        return false;
    }
    *out = std::chrono::duration_cast<std::chrono::seconds>(*time);
    return true;
}

// A probe count from 1 to Linux's limit; "" leaves *out empty.
bool read_keepalive_probes(std::string_view text, std::optional<uint32_t>* out) {
    if (text.empty()) {
        return true;
    }
    std::optional<uint32_t> n = parse_count(text);
    if (!n || *n == 0 || *n > kMaxKeepaliveProbes) {
        return false;
    }
    *out = n;
    return true;
}

// value split at its first two ':'; fewer than two is nullopt (the third field keeps any
// further ':', which then fails as a count).
std::optional<std::array<std::string_view, 3>> split_keepalive_fields(std::string_view value) {
    size_t first = value.find(':');
    size_t second = first == std::string_view::npos ? first : value.find(':', first + 1);
    if (second == std::string_view::npos) {
        return std::nullopt;
    }
    return std::array{value.substr(0, first), value.substr(first + 1, second - first - 1),
                      value.substr(second + 1)};
}

// so_keepalive= as nginx documents it: `on` turns keepalive on with the kernel's timers, `off`
// turns it off, and `[idle]:[interval]:[count]` turns it on with the fields given (at least one;
// an empty field keeps the kernel's setting).
MaybeError read_keepalive(const Statement& st, size_t index, Keepalive* out) {
    std::string_view value = std::string_view(st.args[index]).substr(kKeepaliveOption.size());
    if (value == "on" || value == "off") {
        *out = Keepalive();
        out->on = value == "on";
        return std::nullopt;
    }
    std::optional<std::array<std::string_view, 3>> fields = split_keepalive_fields(value);
    if (!fields || value == "::") {
        return invalid_argument(st, index, "so_keepalive",
                                ": expected on, off or [idle]:[interval]:[count] with at least "
                                "one field, as in 30m::10");
    }
    Keepalive keepalive;
    if (!read_keepalive_time((*fields)[0], &keepalive.idle) ||
        !read_keepalive_time((*fields)[1], &keepalive.interval)) {
        return invalid_argument(st, index, "so_keepalive",
                                ": idle and interval must be whole seconds from 1s to " +
                                    std::to_string(kMaxKeepaliveTime.count()) +
                                    "s, as in 30s or 10m");
    }
    if (!read_keepalive_probes((*fields)[2], &keepalive.probes)) {
        return invalid_argument(st, index, "so_keepalive",
                                ": count must be 1 to " + std::to_string(kMaxKeepaliveProbes));
    }
    *out = keepalive;
    return std::nullopt;
}

MaybeError read_backlog(const Statement& st, size_t index, int* out) {
    std::string_view value = std::string_view(st.args[index]).substr(kBacklogOption.size());
    std::optional<uint32_t> n = parse_count(value);
    if (!n || *n == 0 || *n > INT_MAX) {
        return invalid_argument(st, index, "backlog", ", it must be a positive number");
    }
    *out = static_cast<int>(*n);
    return std::nullopt;
}

// The option's name, for the duplicate check: "backlog" for "backlog=511".
std::string_view option_name(std::string_view option) {
    return option.substr(0, option.find('='));
}

MaybeError read_option(const Statement& st, size_t index, Listen* listen) {
    std::string_view option = st.args[index];
    if (option == "reuseport") {
        listen->reuseport = true;
        return std::nullopt;
    }
    if (option.starts_with(kBacklogOption)) {
        return read_backlog(st, index, &listen->backlog);
    }
    if (option.starts_with(kKeepaliveOption)) {
        return read_keepalive(st, index, &listen->keepalive);
    }
    return invalid_argument(st, index, "parameter",
                            ", expected backlog=N, reuseport or so_keepalive=...");
}

MaybeError read_options(const Statement& st, Listen* listen) {
    std::set<std::string_view> seen;
    for (size_t i = 1; i < st.args.size(); ++i) {
        if (MaybeError err = read_option(st, i, listen)) {
            return err;
        }
        if (!seen.insert(option_name(st.args[i])).second) {
            return error_at(st, "duplicate " + quoted(option_name(st.args[i])) +
                                    " parameter in \"listen\" directive");
        }
    }
    return std::nullopt;
}

MaybeError read_listen(const Statement& st, Listen* listen) {
    const std::string& spec = st.args[0];
    std::optional<HostPort> parts = split_host_port(spec);
    if (!parts) {
        return invalid_argument(st, 0, "address",
                                ": expected port, addr:port, [IPv6 addr]:port, *:port or "
                                "localhost:port");
    }
    std::optional<uint32_t> port = parse_count(parts->port);
    if (!port || *port == 0 || *port > 65535) {
        return invalid_argument(st, 0, "port", ", it must be 1 to 65535");
    }
    std::optional<std::string> address = canonical_address(parts->host, parts->ipv6);
    if (!address) {
        return invalid_argument(st, 0, "address",
                                ": the host must be a numeric IPv4 address, [IPv6 address], * or "
                                "localhost");
    }
    listen->address = std::move(*address);
    listen->port = static_cast<uint16_t>(*port);
    listen->ipv6 = parts->ipv6;
    listen->file = st.file;
    listen->line = st.line;
    return read_options(st, listen);
}

}  // namespace

std::string Listen::describe() const {
    std::string host = ipv6 ? "[" + address + "]" : address;
    return host + ":" + std::to_string(port);
}

MaybeError handle_listen(Apply& block, const Statement& st) {
    Listen listen;
    if (MaybeError err = read_listen(st, &listen)) {
        return err;
    }
    // No virtual hosts: two listens on one address would have two servers claim one socket.
    std::string key = listen.describe();
    auto [first, inserted] =
        block.shared.listens.emplace(key, Origin{st.file, st.line, block.shared.applied});
    if (!inserted) {
        return error_at(st, "duplicate listen " + key + " (first at " + first->second.file + ":" +
                                std::to_string(first->second.line) + ")");
    }
    block.server->listens.push_back(std::move(listen));
    return std::nullopt;
}

}  // namespace pushrelay::conf
