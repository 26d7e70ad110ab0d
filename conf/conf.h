// pushrelay's configuration: the typed result of reading a conf file, and how to read one.
//
// Owned by conf/, the only module that reads conf files. The master loads a Config (at start,
// on `-t`, on reload) and hands it to the workers it forks; workers only read it (routing with
// match_location, settings per request). A Config is plain data, immutable after load: no locks.
// Loading never throws and never exits: a mistake comes back as an Error naming file:line.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/access_rule.h"
#include "conf/directive.h"
#include "conf/error.h"
#include "conf/regex.h"
#include "conf/template.h"
#include "conf/values.h"
#include "core/log.h"

namespace pushrelay::conf {

// Status: a push_stub_status location, answering with server-wide figures (no channel id).
// GripProxy: push_grip_proxy, a GRIP-aware reverse proxy to an origin; GripPublish:
// push_grip_publish, Pushpin's publish API (shared/grip.md).
enum class Role : uint8_t { None, Publisher, Subscriber, Status, GripProxy, GripPublish };
// push_grip_x_forwarded_for.
enum class ForwardedFor : uint8_t { Append, Replace, Off };

// The GRIP directives in force in one location (shared/grip.md "Conf").
struct GripSettings {
    // push_grip_proxy http://host:port: the origin, checked (and a name resolved) at conf load.
    std::string origin_host;  // an IP literal (IPv6 without brackets) or a name
    uint16_t origin_port = 0;
    std::string sig_key = "changeme";  // as written: text, or base64:B64
    std::string sig_iss = "pushpin";
    std::string upstream_key;  // empty: trust nobody
    Millis hold_timeout = std::chrono::seconds(55);
    Millis hold_timeout_min = std::chrono::seconds(5);
    Millis message_wait = std::chrono::seconds(5);
    Millis id_cache_ttl = std::chrono::seconds(60);
    uint32_t max_channels = 20;
    uint64_t max_instruct_size = 100 * 1024;
    uint64_t stream_buffer = 1 << 20;
    Millis connect_timeout = std::chrono::seconds(5);
    Millis read_timeout = std::chrono::seconds(60);
    uint32_t keepalive = 32;
    Millis keepalive_timeout = std::chrono::seconds(60);
    ForwardedFor x_forwarded_for = ForwardedFor::Append;
    bool debug = false;

    bool operator==(const GripSettings&) const = default;
};
// The transports a subscriber location serves (push_subscriber), as bits.
enum Transport : uint8_t {
    kTransportLongPoll = 1u << 0,
    kTransportIntervalPoll = 1u << 1,
    kTransportEventSource = 1u << 2,
    kTransportChunked = 1u << 3,
    kTransportMultipart = 1u << 4,
    kTransportWebSocket = 1u << 5,
};
// One spelling of each transport push_subscriber accepts, in Transport bit order (what -V lists).
std::vector<std::string_view> transport_names();
// How a publisher location takes messages (push_publisher), as bits.
enum PublishBy : uint8_t {
    kPublishHttp = 1u << 0,       // POST/PUT
    kPublishWebSocket = 1u << 1,  // each frame of an upgraded connection
};
enum class Concurrency : uint8_t { Broadcast, First, Last };
using LogLevel = ::pushrelay::log::Level;

// The push directives in force in one location, defaults and inheritance applied. The member
// initializers are the directive table's defaults (a test keeps them equal).
struct PushSettings {
    Role role = Role::None;
    uint8_t transports = kTransportLongPoll;                // Transport bits
    uint8_t publish_by = kPublishHttp | kPublishWebSocket;  // PublishBy bits (push_publisher)
    Millis websocket_ping_interval = Millis(0);             // 0: no PINGs
    GripSettings grip;
    Concurrency concurrency = Concurrency::Broadcast;
    // push_subscriber_first_message: 1 oldest (default), 0 newest, N the Nth oldest, -N the Nth
    // newest (-32..32).
    int32_t first_message = 1;
    bool store_messages = true;
    uint32_t min_buffer = 1;  // invariant after load: min_buffer <= max_buffer
    uint32_t max_buffer = 10;
    Millis message_timeout = std::chrono::hours(1);  // 0: never expires
    uint32_t min_recipients = 0;
    bool delete_oldest_received = false;
    bool authorized_channels_only = false;
    std::string channel_group;  // "" for none; channels are keyed group/id
    // push_channel_id_split_delimiter: every push_channel_id value is split on it ("": none).
    std::string channel_id_split_delimiter;
    uint32_t max_channel_id_length = 1024;  // >= 1
    uint32_t max_channel_subscribers = 0;   // 0: no limit
    Millis subscriber_timeout = Millis(0);  // 0: none
    Millis channel_timeout = std::chrono::seconds(5);
    bool ignore_queue_on_no_cache = false;
    std::string allow_origin = "*";  // no control characters (safe in a header)
    // EventSource pings (transports.md): every interval from subscribe (0: none), made of the
    // lines that are not empty. No control characters, so no newline.
    Millis eventsource_ping_interval = Millis(0);
    std::string eventsource_ping_comment;
    std::string eventsource_ping_event = "ping";
    std::string eventsource_ping_data;
    // Bytes a streaming subscriber may leave unread before it is cut off (it resumes from its
    // last id; the messages stay stored).
    uint64_t max_unsent_bytes = 4 << 20;

    bool operator==(const PushSettings&) const = default;
};

// A limit_conn_zone or limit_req_zone: a named zone of shared memory counting per key. The
// master maps one per zone (limit/zone_set.h); locations refer to it by its index in
// Config::limit_zones.
struct LimitZone {
    enum class Kind : uint8_t { Conn, Req };
    Kind kind = Kind::Conn;
    std::string name;
    Template key;           // evaluated per request; an empty value is not accounted
    uint64_t size = 0;      // bytes of shared memory, >= kMinLimitZoneSize
    uint64_t rate = 0;      // Req: milli-requests per second, as nginx (1r/m is 16), >= 1
    std::string rate_text;  // Req: as written ("10r/s"), for logs
    std::string file;
    int line = 0;

    // "limit_conn_zone" or "limit_req_zone", for messages.
    std::string_view directive() const;
};

// nginx refuses smaller zones (8 pages) too.
inline constexpr uint64_t kMinLimitZoneSize = 32 * 1024;

// Where a limit rule was written, and the zone it names (resolved when the load ends, so that
// a rule may precede its zone as in nginx).
struct LimitRuleOrigin {
    std::string zone_name;
    size_t zone = 0;  // index in Config::limit_zones, valid after load
    std::string file;
    int line = 0;
};

// `limit_conn zone n`.
struct LimitConnRule {
    LimitRuleOrigin origin;
    uint32_t limit = 1;  // >= 1
};

// `limit_req zone=name [burst=n] [nodelay | delay=n]`, in milli-requests as nginx keeps them.
struct LimitReqRule {
    LimitRuleOrigin origin;
    uint64_t burst = 0;  // burst * 1000
    uint64_t delay = 0;  // requests with excess above it wait; nodelay: burst (none waits)
};

// The limit_conn and limit_req directives in force in one location. A level with its own
// limit_conn (limit_req) replaces its parent's list of them, as nginx does.
struct LimitSettings {
    std::vector<LimitConnRule> conn;
    std::vector<LimitReqRule> req;
    int conn_status = 503;  // 400..599
    int req_status = 503;
    LogLevel conn_log_level = LogLevel::Error;
    LogLevel req_log_level = LogLevel::Error;

    bool empty() const { return conn.empty() && req.empty(); }
};

// The HTTP directives in force in one location, defaults and inheritance applied.
struct HttpSettings {
    std::string default_type = "text/plain";
    bool access_log_off = false;
    std::string access_log_path;    // resolved against the prefix
    std::string access_log_format;  // the log_format text (nginx variables), already looked up
    Millis keepalive_timeout = std::chrono::seconds(75);
    uint32_t keepalive_requests = 1000;
    uint64_t client_max_body_size = 1024 * 1024;  // bytes; 0: no limit
    Millis client_header_timeout = std::chrono::seconds(60);
    Millis client_body_timeout = std::chrono::seconds(60);
    // allow/deny in conf order; a level with none inherits its parent's whole list.
    std::vector<AccessRule> access;
    LimitSettings limits;

    // Whether peer may use the location: the first rule that matches decides; no rule matching
    // (or no rules) lets it in, as in nginx.
    bool allowed(const sockaddr* peer) const;
};

struct Location {
    enum class Match : uint8_t { Exact, Prefix, Regex, RegexCaseless };
    Match match = Match::Prefix;
    bool skip_regex = false;  // `^~`: a longest-prefix match stops the regex search
    std::string pattern;
    std::shared_ptr<const Regex> regex;  // set for Regex and RegexCaseless
    PushSettings push;
    HttpSettings http;
    std::vector<SetDirective> sets;  // the server's first, then the location's, in conf order
    // push_channel_id: 1 to 7 values, each naming one channel or, split on
    // push.channel_id_split_delimiter, several. Empty: $push_channel_id names the one channel.
    std::vector<Template> channel_ids;
    std::string file;  // where the location (or, for a fallback, server) opens
    int line = 0;

    bool is_regex() const { return match == Match::Regex || match == Match::RegexCaseless; }

    // The location as written after `location`: "/sub", "= /status", "~* \.json$". A server's
    // fallback gives "".
    std::string describe() const;
};

// TCP keepalive on the connections accepted on one listen address (its so_keepalive=). Linux
// copies SO_KEEPALIVE and the three timers from a listening socket to every socket accept()
// returns, so they are set once, on the listening socket, by the master.
struct Keepalive {
    bool on = true;
    // Empty: the kernel's setting (net.ipv4.tcp_keepalive_time, _intvl, _probes). Set values are
    // within Linux's limits: 1s to 32767s, 1 to 127 probes.
    std::optional<std::chrono::seconds> idle;      // TCP_KEEPIDLE: quiet time before probing
    std::optional<std::chrono::seconds> interval;  // TCP_KEEPINTVL: time between probes
    std::optional<uint32_t> probes;                // TCP_KEEPCNT: unanswered probes before reset

    bool operator==(const Keepalive&) const = default;
};

// Without so_keepalive=: on, probing after 60s idle, every 10s, 6 times. Unlike nginx (off by
// default): a push server holds idle subscribers whose hosts may vanish without a FIN, and only
// probes notice (doc/decisions.md).
inline constexpr Keepalive kDefaultKeepalive{true, std::chrono::seconds(60),
                                             std::chrono::seconds(10), 6};

struct Listen {
    std::string address;  // numeric: "0.0.0.0", "127.0.0.1", "::1"
    uint16_t port = 0;
    bool ipv6 = false;
    int backlog = 511;
    bool reuseport = false;
    Keepalive keepalive = kDefaultKeepalive;
    std::string file;
    int line = 0;

    // "127.0.0.1:8080" or "[::1]:8080".
    std::string describe() const;
};

struct Server {
    std::vector<Listen> listens;     // at least one
    std::vector<std::string> names;  // server_name, kept for logs only (no virtual hosts)
    std::vector<Location> locations;
    // The server-level settings, used when no location matches: Prefix, pattern "".
    Location fallback;
    std::string file;
    int line = 0;
};

// push_max_subscriber_memory: the most of the segment that channels made by subscribers (and not
// yet published to) may take, as bytes or as a percentage of push_max_reserved_memory.
struct SubscriberShare {
    std::optional<uint64_t> bytes;  // a size was given
    uint32_t percent = 25;          // else this percentage (0..100) of the segment
    bool operator==(const SubscriberShare&) const = default;
};

// push_redis_storage_mode (shared/scale-out.md "Storage modes").
enum class RedisStorageMode : uint8_t { Distributed, Nostore };

// One push_redis_url: a standalone Redis, or one seed of a Cluster.
struct RedisUrl {
    std::string host;  // as written: a name or an IP literal (IPv6 without brackets)
    uint16_t port = 6379;
    // host resolved when the conf loaded (at start and on every HUP, never on a worker's loop:
    // hiredis 0.14 resolves synchronously): numeric addresses in getaddrinfo's order, no
    // duplicates, at least one. A connection tries them in turn, as hiredis does with a name.
    std::vector<std::string> addresses;
    std::string user;      // percent-decoded; empty: `AUTH pass` (the default user)
    std::string password;  // percent-decoded; empty only when there is no AUTH (and no user)
    uint32_t db = 0;       // SELECT db on a standalone Redis; 0 for every seed of a Cluster
    std::string file;      // where the directive stands
    int line = 0;

    // "redis://user:***@host:port/db" ("[v6]" for an IPv6 host; no userinfo without AUTH): the
    // only form of the URL that logs and status print, so the password never reaches them.
    std::string describe() const;

    bool operator==(const RedisUrl&) const = default;
};

// The push_redis_* directives (shared/scale-out.md "Conf"), server-wide: http context only.
struct RedisSettings {
    // In conf order. Empty: Redis mode is off. More than one: seeds of one Cluster, which share
    // their user:pass (a node found through CLUSTER SLOTS is reached with it) and db 0.
    std::vector<RedisUrl> urls;
    std::string ns = "pushrelay";  // push_redis_namespace: key prefix, non-empty, no braces
    RedisStorageMode mode = RedisStorageMode::Distributed;
    Millis connect_timeout = std::chrono::seconds(2);  // > 0
    Millis command_timeout = std::chrono::seconds(2);  // > 0

    // Whether Redis mode is on (a push_redis_url was given).
    bool enabled() const { return !urls.empty(); }

    bool operator==(const RedisSettings&) const = default;
};

struct Config {
    std::string prefix;        // relative paths were resolved against it
    std::string conf_path;     // the main conf file, absolute (reload reads it again)
    int worker_processes = 1;  // 1..64 (`auto` resolved to the online CPUs)
    std::optional<uint64_t> worker_rlimit_nofile;
    Millis worker_shutdown_timeout = std::chrono::seconds(10);
    std::string pid_path;
    std::string error_log_path;  // resolved, or "stderr"
    LogLevel error_log_level = LogLevel::Error;
    bool daemon = true;
    int worker_connections = 1024;  // >= 16
    uint64_t push_max_reserved_memory = 128ull * 1024 * 1024;
    SubscriberShare push_max_subscriber_memory;
    std::vector<LimitZone> limit_zones;  // in conf order; names unique across both kinds
    RedisSettings redis;
    std::vector<Server> servers;

    // push_max_subscriber_memory in bytes of this segment. Computed, not stored at load: a
    // reload keeps the running segment size (push_max_reserved_memory cannot change).
    uint64_t subscriber_share_bytes() const {
        const SubscriberShare& share = push_max_subscriber_memory;
        return share.bytes ? *share.bytes : push_max_reserved_memory / 100 * share.percent;
    }
};

// Holds exactly one of config / error.
struct LoadResult {
    std::unique_ptr<Config> config;
    Error error;  // meaningful only when config is null

    explicit operator bool() const { return config != nullptr; }
};

// Reads the conf at path (and its includes), applies `extra` (the -g directives: main context,
// parsed as if from a file named "command line"; a directive both there and in the file is a
// duplicate), resolves relative paths (pid, logs) against prefix, validates everything.
// Relative include patterns are taken against the directory of path.
LoadResult load_file(const std::string& path, const std::string& prefix,
                     const std::string& extra = "");

// As load_file, with text as the content of a file called name (includes are taken against
// name's directory; conf_path is name as given).
LoadResult load_string(std::string_view text, const std::string& name, const std::string& prefix,
                       const std::string& extra = "");

// nginx's location selection for path (no query): an exact match wins; else the longest
// matching prefix if it is `^~`; else the first regex in conf order that matches (its groups
// go to *captures, $1 first); else the longest matching prefix; else server.fallback. Never
// fails. *captures is cleared unless a regex matched. The reference lives as long as server.
// O(locations): a server has a handful, and this runs once per request.
const Location& match_location(const Server& server, std::string_view path,
                               std::vector<std::string>& captures);

}  // namespace pushrelay::conf
