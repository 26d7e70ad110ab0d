// The Redis directives (shared/scale-out.md "Conf"): push_redis_url and its seed list,
// push_redis_namespace, push_redis_storage_mode and the two timeouts, all http-level, into
// Config::redis. A URL's host is resolved here, at load, so that no worker ever waits on DNS.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "conf/directive_handlers.h"
#include "protocol/query.h"

namespace pushrelay::conf {
namespace {

constexpr std::string_view kScheme = "redis://";
constexpr std::string_view kUrlForm = "redis://[user:pass@]host:port[/db]";

// The URL as an error message may show it: whatever stands between the scheme and the last
// '@' after the first ':' (or all of it, when there is no ':') becomes ***. Conf errors reach
// the error log on a failed reload, and a password must not.
std::string masked(std::string_view url) {
    size_t scheme_end = url.find("://");
    size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    size_t at = url.rfind('@');
    if (at == std::string_view::npos || at < start) {
        return std::string(url);
    }
    size_t colon = url.find(':', start);
    size_t secret = colon != std::string_view::npos && colon < at ? colon + 1 : start;
    return std::string(url.substr(0, secret)) + "***" + std::string(url.substr(at));
}

Error invalid_url(const Statement& st, std::string_view hint) {
    return error_at(st, "invalid URL " + quoted(masked(st.args[0])) + " in " + quoted(st.name) +
                            " directive" + std::string(hint));
}

// "user:pass" or ":pass" (the default user), both percent-decoded.
MaybeError read_userinfo(const Statement& st, std::string_view userinfo, RedisUrl* url) {
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
        return invalid_url(st, ": expected user:pass@ or :pass@ before the host");
    }
    if (!protocol::percent_decode(userinfo.substr(0, colon), url->user)) {
        return invalid_url(st, ": malformed %-escape in the user (write % as %25)");
    }
    if (!protocol::percent_decode(userinfo.substr(colon + 1), url->password)) {
        return invalid_url(st, ": malformed %-escape in the password (write % as %25)");
    }
    if (url->password.empty()) {
        return invalid_url(st, ": the password is empty (leave out user:pass@ for no AUTH)");
    }
    return std::nullopt;
}

// "host", "host:port", "[v6]" or "[v6]:port"; 6379 when the port is left out.
MaybeError read_host_port(const Statement& st, std::string_view authority, RedisUrl* url) {
    std::string_view host = authority;
    std::string_view port_text;
    bool has_port = false;
    if (authority.starts_with('[')) {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return invalid_url(st, ": unterminated [IPv6 address]");
        }
        host = authority.substr(1, close - 1);
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) {
            return invalid_url(st, ": expected :port after ]");
        }
        has_port = !rest.empty();
        port_text = has_port ? rest.substr(1) : rest;
        in6_addr unused;
        if (inet_pton(AF_INET6, std::string(host).c_str(), &unused) != 1) {
            return invalid_url(st, ": " + quoted(host) + " in brackets is not an IPv6 address");
        }
    } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port_text = authority.substr(colon + 1);
        has_port = true;
        if (port_text.find(':') != std::string_view::npos) {
            return invalid_url(st, ": an IPv6 address goes in brackets, as in [::1]:6379");
        }
    }
    if (host.empty()) {
        return invalid_url(st, ": the host is missing");
    }
    std::optional<uint32_t> port = has_port ? parse_count(port_text) : 6379u;
    if (!port || *port == 0 || *port > 65535) {
        return invalid_url(st, ": the port must be a number from 1 to 65535");
    }
    url->host = host;
    url->port = static_cast<uint16_t>(*port);
    return std::nullopt;
}

// "", "/" or "/db".
MaybeError read_db(const Statement& st, std::string_view path, RedisUrl* url) {
    if (path.empty() || path == "/") {
        url->db = 0;
        return std::nullopt;
    }
    std::optional<uint32_t> db = parse_count(path.substr(1));
    if (!db) {
        return invalid_url(st, ": the path must be /db, a database number such as /0");
    }
    url->db = *db;
    return std::nullopt;
}

// The URL's parts, nothing resolved yet. The userinfo ends at the last '@', so that a password
// may hold '@', '/' or '?' unescaped.
MaybeError parse_url(const Statement& st, RedisUrl* url) {
    std::string_view text = st.args[0];
    if (text.starts_with("rediss://")) {
        return invalid_url(st, ": TLS needs hiredis \u2265 1.0: use a private network or stunnel");
    }
    if (!text.starts_with(kScheme)) {
        return invalid_url(st, ", it must be " + std::string(kUrlForm));
    }
    text.remove_prefix(kScheme.size());
    if (size_t at = text.rfind('@'); at != std::string_view::npos) {
        if (MaybeError err = read_userinfo(st, text.substr(0, at), url)) {
            return err;
        }
        text.remove_prefix(at + 1);
    }
    if (text.find('?') != std::string_view::npos) {
        return invalid_url(st, ": query parameters are not supported");
    }
    size_t slash = std::min(text.find('/'), text.size());
    if (MaybeError err = read_host_port(st, text.substr(0, slash), url)) {
        return err;
    }
    return read_db(st, text.substr(slash), url);
}

// The numeric addresses of url->host, now (hiredis 0.14 would resolve on the loop).
MaybeError resolve(const Statement& st, RedisUrl* url) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(url->host.c_str(), nullptr, &hints, &found);
    if (rc != 0) {
        return invalid_url(st, ": cannot resolve " + quoted(url->host) + ": " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
    url->addresses.clear();
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
        char numeric[NI_MAXHOST];
        rc = getnameinfo(a->ai_addr, a->ai_addrlen, numeric, sizeof numeric, nullptr, 0,
                         NI_NUMERICHOST);
        if (rc != 0) {
            return invalid_url(st, ": getnameinfo(NI_NUMERICHOST) failed for " + quoted(url->host) +
                                       ": " + gai_strerror(rc));
        }
        if (std::find(url->addresses.begin(), url->addresses.end(), numeric) ==
            url->addresses.end()) {
            url->addresses.emplace_back(numeric);
        }
    }
    return std::nullopt;
}

std::string place(const std::string& file, int line) {
    return file + ":" + std::to_string(line);
}

// At the seed (file:line) whose database is db, naming the other seed.
Error database_in_cluster(const std::string& file, int line, uint32_t db,
                          const std::string& other) {
    return Error{file, line,
                 "database " + std::to_string(db) +
                     " in a Cluster seed list (\"push_redis_url\" also at " + other +
                     "): a Redis Cluster has database 0 only"};
}

// A second URL makes the list a Cluster's seeds: one database (0) and one user:pass.
MaybeError check_seed(const Statement& st, const std::vector<RedisUrl>& seeds,
                      const RedisUrl& added) {
    if (seeds.empty()) {
        return std::nullopt;
    }
    const RedisUrl& first = seeds.front();
    if (added.db != 0) {
        return database_in_cluster(st.file, st.line, added.db, place(first.file, first.line));
    }
    if (first.db != 0) {
        return database_in_cluster(first.file, first.line, first.db, place(st.file, st.line));
    }
    if (added.user != first.user || added.password != first.password) {
        return error_at(st,
                        "the seeds of a Cluster take one user:pass (nodes found through "
                        "CLUSTER SLOTS are reached with it), and this one differs from " +
                            place(first.file, first.line));
    }
    return std::nullopt;
}

MaybeError read_positive_time(const Statement& st, Millis* out) {
    Millis time{};
    if (MaybeError err = read_time(st, 0, &time)) {
        return err;
    }
    if (time <= Millis(0)) {
        return invalid_argument(st, 0, "time", ", it must be more than 0");
    }
    *out = time;
    return std::nullopt;
}

constexpr Choices<RedisStorageMode, 2> kStorageModes{{
    {"distributed", RedisStorageMode::Distributed},
    {"nostore", RedisStorageMode::Nostore},
}};

// Kept for the user info in describe(): unreserved characters (RFC 3986) stay, the rest is
// escaped, so that the printed URL reads back as the same user.
std::string percent_encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        }
    }
    return out;
}

}  // namespace

std::string RedisUrl::describe() const {
    std::string text(kScheme);
    if (!password.empty()) {
        text += percent_encode(user) + ":***@";
    }
    bool ipv6 = host.find(':') != std::string::npos;
    text += ipv6 ? "[" + host + "]" : host;
    return text + ":" + std::to_string(port) + "/" + std::to_string(db);
}

MaybeError handle_redis_url(Apply& block, const Statement& st) {
    RedisUrl url;
    url.file = st.file;
    url.line = st.line;
    std::vector<RedisUrl>& seeds = block.shared.config->redis.urls;
    if (MaybeError err = parse_url(st, &url)) {
        return err;
    }
    if (MaybeError err = check_seed(st, seeds, url)) {
        return err;
    }
    if (MaybeError err = resolve(st, &url)) {
        return err;
    }
    seeds.push_back(std::move(url));
    return std::nullopt;
}

MaybeError handle_redis_namespace(Apply& block, const Statement& st) {
    const std::string& ns = st.args[0];
    if (ns.empty()) {
        return invalid_argument(st, 0, "namespace", ": it is empty");
    }
    if (ns.find_first_of("{}") != std::string::npos) {
        return invalid_argument(st, 0, "namespace",
                                ": \"{\" and \"}\" are not allowed (a channel's keys carry "
                                "its own hash tag, which keeps them in one Cluster slot)");
    }
    block.shared.config->redis.ns = ns;
    return std::nullopt;
}

MaybeError handle_redis_storage_mode(Apply& block, const Statement& st) {
    if (st.args[0] == "backup") {
        return invalid_argument(st, 0, "value",
                                ": there is no backup mode, since the shared segment already "
                                "survives worker crashes and reloads; use \"distributed\" or "
                                "\"nostore\"");
    }
    return read_choice(st, 0, kStorageModes, &block.shared.config->redis.mode);
}

MaybeError handle_redis_connect_timeout(Apply& block, const Statement& st) {
    return read_positive_time(st, &block.shared.config->redis.connect_timeout);
}

MaybeError handle_redis_command_timeout(Apply& block, const Statement& st) {
    return read_positive_time(st, &block.shared.config->redis.command_timeout);
}

}  // namespace pushrelay::conf
