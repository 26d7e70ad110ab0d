// The listen directive: `port`, `addr:port`, `[v6addr]:port`, `*:port`, `localhost:port`,
// then optionally `backlog=N` and `reuseport`.
#include <arpa/inet.h>

#include <climits>

#include "conf/directive_handlers.h"

namespace pushrelay::conf {
namespace {

constexpr std::string_view kBacklogOption = "backlog=";

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

MaybeError read_options(const Statement& st, Listen* listen) {
    for (size_t i = 1; i < st.args.size(); ++i) {
        std::string_view option = st.args[i];
        if (option == "reuseport") {
            listen->reuseport = true;
        } else if (option.starts_with(kBacklogOption)) {
            std::optional<uint32_t> n = parse_count(option.substr(kBacklogOption.size()));
            if (!n || *n == 0 || *n > INT_MAX) {
                return invalid_argument(st, i, "backlog", ", it must be a positive number");
            }
            listen->backlog = static_cast<int>(*n);
        } else {
            return invalid_argument(st, i, "parameter", ", expected backlog=N or reuseport");
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
