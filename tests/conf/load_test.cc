// Loading whole confs: defaults, every directive kind, aliases, inheritance, -g.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "conf/conf.h"
#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using namespace std::chrono_literals;
using testing::as_sockaddr;
using testing::ipv4_peer;
using testing::kConfName;
using testing::load;
using testing::load_error;
using testing::loaded_location;
using testing::one_location;
using testing::TempDir;

std::unique_ptr<Config> load_ok(std::string_view text, const std::string& extra = "") {
    LoadResult result = load(text, extra);
    EXPECT_TRUE(result) << result.error.describe();
    return std::move(result.config);
}

TEST(LoadDefaults, EmptyConf) {
    auto config = load_ok("");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->prefix, "/srv/pr");
    EXPECT_EQ(config->conf_path, kConfName);
    EXPECT_EQ(config->worker_processes, 1);
    EXPECT_FALSE(config->worker_rlimit_nofile);
    EXPECT_EQ(config->worker_shutdown_timeout, 10s);
    EXPECT_EQ(config->pid_path, "/srv/pr/logs/pushrelay.pid");
    EXPECT_EQ(config->error_log_path, "/srv/pr/logs/error.log");
    EXPECT_EQ(config->error_log_level, LogLevel::Error);
    EXPECT_TRUE(config->daemon);
    EXPECT_EQ(config->worker_connections, 1024);
    EXPECT_EQ(config->push_max_reserved_memory, 128u * 1024 * 1024);
    EXPECT_TRUE(config->servers.empty());
}

// The table's default texts are what a load applies; the structs' initializers must agree,
// since other modules construct them directly.
TEST(LoadDefaults, LocationDefaultsEqualStructInitializers) {
    Location loc = loaded_location("");
    EXPECT_EQ(loc.push, PushSettings{});
    HttpSettings expected;
    EXPECT_EQ(loc.http.default_type, expected.default_type);
    EXPECT_EQ(loc.http.keepalive_timeout, expected.keepalive_timeout);
    EXPECT_EQ(loc.http.keepalive_requests, expected.keepalive_requests);
    EXPECT_EQ(loc.http.client_max_body_size, expected.client_max_body_size);
    EXPECT_EQ(loc.http.client_header_timeout, expected.client_header_timeout);
    EXPECT_EQ(loc.http.client_body_timeout, expected.client_body_timeout);
    EXPECT_TRUE(loc.http.access.empty());
    EXPECT_FALSE(loc.http.access_log_off);
    EXPECT_EQ(loc.http.access_log_path, "/srv/pr/logs/access.log");
    EXPECT_EQ(loc.http.access_log_format.rfind("$remote_addr - $remote_user [$time_local]", 0), 0u);
    Config config;
    auto loaded = load_ok("");
    EXPECT_EQ(loaded->worker_processes, config.worker_processes);
    EXPECT_EQ(loaded->worker_shutdown_timeout, config.worker_shutdown_timeout);
    EXPECT_EQ(loaded->error_log_level, config.error_log_level);
    EXPECT_EQ(loaded->daemon, config.daemon);
    EXPECT_EQ(loaded->worker_connections, config.worker_connections);
    EXPECT_EQ(loaded->push_max_reserved_memory, config.push_max_reserved_memory);
}

TEST(PushDirectives, Roles) {
    EXPECT_EQ(loaded_location("push_publisher;").push.role, Role::Publisher);
    Location sub = loaded_location("push_subscriber;");
    EXPECT_EQ(sub.push.role, Role::Subscriber);
    EXPECT_EQ(sub.push.transports, kTransportLongPoll);
    EXPECT_EQ(loaded_location("push_subscriber interval-poll;").push.transports,
              kTransportIntervalPoll);
    EXPECT_EQ(loaded_location("push_subscriber long-poll;").push.transports, kTransportLongPoll);
    EXPECT_EQ(loaded_location("").push.role, Role::None);
}

TEST(PushDirectives, FirstMessage) {
    EXPECT_EQ(loaded_location("").push.first_message, 1);
    EXPECT_EQ(loaded_location("push_subscriber_first_message oldest;").push.first_message, 1);
    EXPECT_EQ(loaded_location("push_subscriber_first_message newest;").push.first_message, 0);
    EXPECT_EQ(loaded_location("push_subscriber_first_message 32;").push.first_message, 32);
    EXPECT_EQ(loaded_location("push_subscriber_first_message -3;").push.first_message, -3);
}

TEST(PushDirectives, Transports) {
    EXPECT_EQ(loaded_location("push_subscriber;").push.transports, kTransportLongPoll);
    Location all = loaded_location(
        "push_subscriber long-poll interval-poll eventsource chunked multipart-mixed;");
    EXPECT_EQ(all.push.transports, kTransportLongPoll | kTransportIntervalPoll |
                                       kTransportEventSource | kTransportChunked |
                                       kTransportMultipart);
    EXPECT_EQ(loaded_location("push_subscriber sse es event-source;").push.transports,
              kTransportEventSource);
    EXPECT_EQ(loaded_location("push_subscriber http-chunked multipart/mixed;").push.transports,
              kTransportChunked | kTransportMultipart);
    EXPECT_EQ(loaded_location("push_subscriber longpoll poll;").push.transports,
              kTransportLongPoll | kTransportIntervalPoll);
    EXPECT_EQ(loaded_location("push_subscriber websocket ws websockets;").push.transports,
              kTransportWebSocket);
}

// transports.md "Conf": push_publisher http and/or websocket, bare = both.
TEST(PushDirectives, PublisherTransports) {
    EXPECT_EQ(loaded_location("push_publisher;").push.publish_by, kPublishHttp | kPublishWebSocket);
    EXPECT_EQ(loaded_location("push_publisher http;").push.publish_by, kPublishHttp);
    EXPECT_EQ(loaded_location("push_publisher websocket;").push.publish_by, kPublishWebSocket);
    EXPECT_EQ(loaded_location("push_publisher websocket http;").push.publish_by,
              kPublishHttp | kPublishWebSocket);
}

TEST(PushDirectives, WebSocketPingInterval) {
    EXPECT_EQ(loaded_location("").push.websocket_ping_interval, Millis(0));
    EXPECT_EQ(loaded_location("push_websocket_ping_interval 30s;").push.websocket_ping_interval,
              Millis(30000));
}

TEST(PushDirectives, Aliases) {
    EXPECT_EQ(loaded_location("push_sender;").push.role, Role::Publisher);
    EXPECT_EQ(loaded_location("push_listener interval-poll;").push.transports,
              kTransportIntervalPoll);
    EXPECT_EQ(loaded_location("push_listener_concurrency last;").push.concurrency,
              Concurrency::Last);
    EXPECT_FALSE(loaded_location("push_queue_messages off;").push.store_messages);
    auto config = load_ok("http { push_buffer_size 12M; }");
    EXPECT_EQ(config->push_max_reserved_memory, 12u * 1024 * 1024);
}

TEST(PushDirectives, EveryValue) {
    Location loc = loaded_location(R"(
        push_subscriber;
        push_subscriber_concurrency first;
        push_store_messages off;
        push_min_message_buffer_length 3;
        push_max_message_buffer_length 30;
        push_message_timeout 2h;
        push_min_message_recipients 2;
        push_delete_oldest_received_message on;
        push_authorized_channels_only on;
        push_channel_group news;
        push_max_channel_id_length 64;
        push_max_channel_subscribers 100;
        push_subscriber_timeout 30s;
        push_channel_timeout 1m;
        push_ignore_queue_on_no_cache on;
        push_allow_origin https://example.com;)");
    const PushSettings& p = loc.push;
    EXPECT_EQ(p.concurrency, Concurrency::First);
    EXPECT_FALSE(p.store_messages);
    EXPECT_EQ(p.min_buffer, 3u);
    EXPECT_EQ(p.max_buffer, 30u);
    EXPECT_EQ(p.message_timeout, 2h);
    EXPECT_EQ(p.min_recipients, 2u);
    EXPECT_TRUE(p.delete_oldest_received);
    EXPECT_TRUE(p.authorized_channels_only);
    EXPECT_EQ(p.channel_group, "news");
    EXPECT_EQ(p.max_channel_id_length, 64u);
    EXPECT_EQ(p.max_channel_subscribers, 100u);
    EXPECT_EQ(p.subscriber_timeout, 30s);
    EXPECT_EQ(p.channel_timeout, 1min);
    EXPECT_TRUE(p.ignore_queue_on_no_cache);
    EXPECT_EQ(p.allow_origin, "https://example.com");
}

TEST(PushDirectives, MessageBufferLengthSetsBoth) {
    Location loc = loaded_location("push_message_buffer_length 50;");
    EXPECT_EQ(loc.push.min_buffer, 50u);
    EXPECT_EQ(loc.push.max_buffer, 50u);
}

TEST(PushDirectives, ReservedMemoryFloor) {
    EXPECT_EQ(load_ok("http { push_max_reserved_memory 64k; }")->push_max_reserved_memory,
              64u * 1024);
}

TEST(CoreDirectives, MainContext) {
    auto config = load_ok(R"(
        worker_processes 4;
        worker_rlimit_nofile 65536;
        worker_shutdown_timeout 3s;
        pid /run/pr.pid;
        error_log logs/err.log debug;
        daemon off;
        events { worker_connections 16384; })");
    EXPECT_EQ(config->worker_processes, 4);
    EXPECT_EQ(config->worker_rlimit_nofile, 65536u);
    EXPECT_EQ(config->worker_shutdown_timeout, 3s);
    EXPECT_EQ(config->pid_path, "/run/pr.pid");
    EXPECT_EQ(config->error_log_path, "/srv/pr/logs/err.log");
    EXPECT_EQ(config->error_log_level, LogLevel::Debug);
    EXPECT_FALSE(config->daemon);
    EXPECT_EQ(config->worker_connections, 16384);
}

TEST(CoreDirectives, WorkerProcessesAuto) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    EXPECT_EQ(load_ok("worker_processes auto;")->worker_processes, std::clamp<long>(cpus, 1, 64));
}

TEST(CoreDirectives, ErrorLogToStderrAndLevels) {
    auto config = load_ok("error_log stderr;");
    EXPECT_EQ(config->error_log_path, "stderr");
    EXPECT_EQ(config->error_log_level, LogLevel::Error);
    EXPECT_EQ(load_ok("error_log stderr emerg;")->error_log_level, LogLevel::Emerg);
    EXPECT_EQ(load_ok("error_log stderr warn;")->error_log_level, LogLevel::Warn);
}

TEST(CoreDirectives, HttpSettings) {
    Location loc = loaded_location(R"(
        default_type application/json;
        keepalive_timeout 5s;
        keepalive_requests 10;
        client_max_body_size 0;
        client_header_timeout 1s;
        client_body_timeout 2s;)");
    EXPECT_EQ(loc.http.default_type, "application/json");
    EXPECT_EQ(loc.http.keepalive_timeout, 5s);
    EXPECT_EQ(loc.http.keepalive_requests, 10u);
    EXPECT_EQ(loc.http.client_max_body_size, 0u);
    EXPECT_EQ(loc.http.client_header_timeout, 1s);
    EXPECT_EQ(loc.http.client_body_timeout, 2s);
}

TEST(CoreDirectives, AccessLogAndFormats) {
    Location loc = loaded_location("access_log /var/log/a.log short;",
                                   "log_format short '$remote_addr ' \"$status\";");
    EXPECT_EQ(loc.http.access_log_path, "/var/log/a.log");
    EXPECT_EQ(loc.http.access_log_format, "$remote_addr $status");
    EXPECT_FALSE(loc.http.access_log_off);
    Location off = loaded_location("access_log off;");
    EXPECT_TRUE(off.http.access_log_off);
    EXPECT_TRUE(off.http.access_log_path.empty());
    Location combined = loaded_location("access_log logs/x.log;");
    EXPECT_EQ(combined.http.access_log_path, "/srv/pr/logs/x.log");
    EXPECT_EQ(combined.http.access_log_format, loaded_location("").http.access_log_format);
}

TEST(CoreDirectives, ServerNames) {
    auto config =
        load_ok("http { server { listen 8080; server_name a.example b.example; server_name c; } }");
    EXPECT_EQ(config->servers[0].names, (std::vector<std::string>{"a.example", "b.example", "c"}));
}

struct ListenCase {
    const char* conf;
    const char* address;
    uint16_t port;
    bool ipv6;
    const char* described;
};

TEST(Listen, Forms) {
    for (const ListenCase& c : {
             ListenCase{"8080", "0.0.0.0", 8080, false, "0.0.0.0:8080"},
             ListenCase{"127.0.0.1:8089", "127.0.0.1", 8089, false, "127.0.0.1:8089"},
             ListenCase{"*:80", "0.0.0.0", 80, false, "0.0.0.0:80"},
             ListenCase{"localhost:8089", "127.0.0.1", 8089, false, "127.0.0.1:8089"},
             ListenCase{"[::1]:8080", "::1", 8080, true, "[::1]:8080"},
             ListenCase{"[0:0::1]:8080", "::1", 8080, true, "[::1]:8080"},
             ListenCase{"[::]:65535", "::", 65535, true, "[::]:65535"},
         }) {
        auto config = load_ok("http { server { listen " + std::string(c.conf) + "; } }");
        ASSERT_TRUE(config) << c.conf;
        const Listen& l = config->servers[0].listens.at(0);
        EXPECT_EQ(l.address, c.address) << c.conf;
        EXPECT_EQ(l.port, c.port) << c.conf;
        EXPECT_EQ(l.ipv6, c.ipv6) << c.conf;
        EXPECT_EQ(l.describe(), c.described) << c.conf;
        EXPECT_EQ(l.backlog, 511);
        EXPECT_FALSE(l.reuseport);
        EXPECT_EQ(l.file, kConfName);
        EXPECT_EQ(l.line, 1);
    }
}

TEST(Listen, Options) {
    auto config =
        load_ok("http { server { listen 8080 backlog=128 reuseport; listen 8081 reuseport; } }");
    const auto& listens = config->servers[0].listens;
    ASSERT_EQ(listens.size(), 2u);
    EXPECT_EQ(listens[0].backlog, 128);
    EXPECT_TRUE(listens[0].reuseport);
    EXPECT_EQ(listens[1].backlog, 511);
}

// The listen's keepalive for `listen 8080 OPTION;`.
Keepalive keepalive_of(const std::string& option) {
    auto config = load_ok("http { server { listen 8080 " + option + "; } }");
    return config ? config->servers[0].listens.at(0).keepalive : Keepalive{};
}

TEST(Listen, KeepaliveDefaultIsOnWithPushServerTimers) {
    auto config = load_ok("http { server { listen 8080; } }");
    const Keepalive& keepalive = config->servers[0].listens.at(0).keepalive;
    EXPECT_EQ(keepalive, kDefaultKeepalive);
    EXPECT_TRUE(keepalive.on);
    EXPECT_EQ(keepalive.idle, 60s);
    EXPECT_EQ(keepalive.interval, 10s);
    EXPECT_EQ(keepalive.probes, 6u);
}

TEST(Listen, KeepaliveOnKeepsTheKernelTimersAndOffTurnsItOff) {
    EXPECT_EQ(keepalive_of("so_keepalive=on"), (Keepalive{true, {}, {}, {}}));
    EXPECT_FALSE(keepalive_of("so_keepalive=off").on);
}

TEST(Listen, KeepaliveTimersInNginxForms) {
    EXPECT_EQ(keepalive_of("so_keepalive=7s:3s:2"), (Keepalive{true, 7s, 3s, 2u}));
    EXPECT_EQ(keepalive_of("so_keepalive=30m::10"), (Keepalive{true, 30min, {}, 10u}));
    EXPECT_EQ(keepalive_of("so_keepalive=:45:"), (Keepalive{true, {}, 45s, {}}));
    EXPECT_EQ(keepalive_of("so_keepalive=::127"), (Keepalive{true, {}, {}, 127u}));
    EXPECT_EQ(keepalive_of("so_keepalive=1h:1m1s:"), (Keepalive{true, 1h, 61s, {}}));
    EXPECT_EQ(keepalive_of("so_keepalive=2000ms:32767:1"), (Keepalive{true, 2s, 32767s, 1u}));
}

TEST(Listen, KeepaliveStandsWithTheOtherOptions) {
    auto config = load_ok("http { server { listen 8080 reuseport so_keepalive=off backlog=64; } }");
    const Listen& listen = config->servers[0].listens.at(0);
    EXPECT_FALSE(listen.keepalive.on);
    EXPECT_TRUE(listen.reuseport);
    EXPECT_EQ(listen.backlog, 64);
}

TEST(Listen, SamePortOnDifferentAddressesIsNotADuplicate) {
    EXPECT_EQ(load_error("http { server { listen 127.0.0.1:80; listen [::1]:80; } "
                         "server { listen 127.0.0.2:80; } }"),
              "loaded");
}

TEST(AllowDeny, RulesInOrder) {
    Location loc = loaded_location("allow 127.0.0.1; deny all;");
    ASSERT_EQ(loc.http.access.size(), 2u);
    EXPECT_TRUE(loc.http.allowed(as_sockaddr(ipv4_peer("127.0.0.1"))));
    EXPECT_FALSE(loc.http.allowed(as_sockaddr(ipv4_peer("10.0.0.1"))));
}

TEST(Inheritance, HttpToServerToLocation) {
    auto config = load_ok(R"(http {
        push_message_timeout 5m;
        keepalive_requests 7;
        push_store_messages off;
        server {
            listen 8080;
            push_message_timeout 10m;
            push_channel_group g;
            location /a { push_message_timeout 20m; }
            location /b { }
            default_type text/html;   # after the locations: still inherited, as nginx
        }
    })");
    const Server& server = config->servers[0];
    const Location& a = server.locations[0];
    const Location& b = server.locations[1];
    EXPECT_EQ(a.push.message_timeout, 20min);
    EXPECT_EQ(b.push.message_timeout, 10min);
    EXPECT_EQ(server.fallback.push.message_timeout, 10min);
    for (const Location* loc : {&a, &b, &server.fallback}) {
        EXPECT_EQ(loc->http.keepalive_requests, 7u);
        EXPECT_FALSE(loc->push.store_messages);
        EXPECT_EQ(loc->push.channel_group, "g");
        EXPECT_EQ(loc->http.default_type, "text/html");
    }
}

TEST(Inheritance, RoleAtServerLevel) {
    auto config = load_ok(R"(http { server {
        listen 8080;
        push_subscriber interval-poll;
        location /pub { push_publisher; }
        location /sub { }
    } })");
    const Server& server = config->servers[0];
    EXPECT_EQ(server.fallback.push.role, Role::Subscriber);
    EXPECT_EQ(server.locations[0].push.role, Role::Publisher);
    EXPECT_EQ(server.locations[1].push.role, Role::Subscriber);
    EXPECT_EQ(server.locations[1].push.transports, kTransportIntervalPoll);
}

TEST(Inheritance, AccessListIsReplacedWholeNotMerged) {
    auto config = load_ok(R"(http {
        allow 10.0.0.0/8;
        deny all;
        server {
            listen 8080;
            location /inherits { }
            location /own { allow 192.168.0.0/16; }
        }
        server {
            listen 8081;
            deny 10.1.0.0/16;
            location /s { }
        }
    })");
    const Location& inherits = config->servers[0].locations[0];
    const Location& own = config->servers[0].locations[1];
    const Location& server_own = config->servers[1].locations[0];
    EXPECT_EQ(inherits.http.access.size(), 2u);
    EXPECT_FALSE(inherits.http.allowed(as_sockaddr(ipv4_peer("192.168.1.1"))));
    EXPECT_TRUE(inherits.http.allowed(as_sockaddr(ipv4_peer("10.2.3.4"))));
    ASSERT_EQ(own.http.access.size(), 1u);
    EXPECT_TRUE(own.http.allowed(as_sockaddr(ipv4_peer("192.168.1.1"))));
    EXPECT_TRUE(own.http.allowed(as_sockaddr(ipv4_peer("8.8.8.8"))));  // no rule matches
    ASSERT_EQ(server_own.http.access.size(), 1u);
    EXPECT_FALSE(server_own.http.allowed(as_sockaddr(ipv4_peer("10.1.2.3"))));
    EXPECT_TRUE(server_own.http.allowed(as_sockaddr(ipv4_peer("10.2.2.3"))));
}

TEST(Inheritance, BufferLengthsCheckedAfterInheritance) {
    Location loc =
        loaded_location("push_min_message_buffer_length 5;", "push_max_message_buffer_length 5;");
    EXPECT_EQ(loc.push.min_buffer, 5u);
    EXPECT_EQ(loc.push.max_buffer, 5u);
}

TEST(Set, ServerSetsComeFirstAndAliasIsCanonical) {
    auto config = load_ok(R"(http { server {
        listen 8080;
        set $push_id $arg_id;
        location ~ ^/sub/(\w+)$ {
            set $group $1;
            set $push_channel_id "$group/$push_id";
        }
    } })");
    const Location& loc = config->servers[0].locations[0];
    ASSERT_EQ(loc.sets.size(), 3u);
    EXPECT_EQ(loc.sets[0].variable, "push_channel_id");
    EXPECT_EQ(loc.sets[1].variable, "group");
    EXPECT_EQ(loc.sets[2].variable, "push_channel_id");
    std::vector<std::string> captures{"news"};
    RequestVars request;
    request.query = "id=42";
    request.captures = captures;
    SetVariables values(loc.sets, request);
    EXPECT_EQ(values.find("push_channel_id"), "news/42");
    EXPECT_EQ(config->servers[0].fallback.sets.size(), 1u);
}

// transports.md "Conf": push_channel_id takes 1-7 values with variables, inherited from the
// server; the split delimiter inherits from http.
TEST(ChannelId, ValuesWithVariablesInheritedFromTheServer) {
    auto config = load_ok(R"(http {
    push_channel_id_split_delimiter ",";
    server {
        listen 8080;
        set $prefix p;
        push_channel_id "$prefix-$arg_a" $arg_b fixed;
        location /sub { push_subscriber; }
        location /own { push_channel_id $arg_c; push_subscriber; }
    } })");
    const Location& sub = config->servers[0].locations[0];
    ASSERT_EQ(sub.channel_ids.size(), 3u);
    EXPECT_EQ(sub.channel_ids[0].text(), "$prefix-$arg_a");
    EXPECT_TRUE(sub.channel_ids[0].reads_set_variables());
    EXPECT_EQ(sub.push.channel_id_split_delimiter, ",");
    const Location& own = config->servers[0].locations[1];
    ASSERT_EQ(own.channel_ids.size(), 1u);
    RequestVars request;
    request.query = "c=x,y";
    EXPECT_EQ(own.channel_ids[0].expand(request), "x,y");
}

TEST(ChannelId, AtMostSevenValuesAndKnownVariables) {
    EXPECT_EQ(load_error(one_location("push_channel_id 1 2 3 4 5 6 7; push_subscriber;")),
              "loaded");
    EXPECT_NE(load_error(one_location("push_channel_id 1 2 3 4 5 6 7 8;")), "loaded");
    EXPECT_NE(load_error(one_location("push_channel_id $nope;")).find("unknown \"nope\" variable"),
              std::string::npos);
}

TEST(ExtraDirectives, ApplyInMainContext) {
    auto config = load_ok("worker_processes 2;", "daemon off; error_log stderr info;");
    EXPECT_FALSE(config->daemon);
    EXPECT_EQ(config->worker_processes, 2);
    EXPECT_EQ(config->error_log_path, "stderr");
    EXPECT_EQ(config->error_log_level, LogLevel::Info);
}

TEST(ExtraDirectives, DuplicateOfTheFileIsAnError) {
    EXPECT_EQ(load_error("worker_processes 1;\ndaemon on;\n", "daemon off;"),
              std::string(kConfName) + ":2: \"daemon\" directive is duplicate");
}

TEST(ExtraDirectives, ErrorsNameTheCommandLine) {
    EXPECT_EQ(load_error("", "daemon maybe;"),
              "command line:1: invalid value \"maybe\" in \"daemon\" directive, it must be "
              "\"on\" or \"off\"");
}

TEST(LoadFile, ReadsIncludesRelativeToTheConfDirectory) {
    TempDir dir;
    dir.write("conf.d/servers/pub.conf",
              "server { listen 127.0.0.1:9001; location /pub { push_publisher; } }\n");
    dir.write("conf.d/servers/sub.conf",
              "server { listen 9002; location /sub { push_subscriber; } }\n");
    dir.write("conf.d/events.conf", "worker_connections 64;\n");
    std::string main = dir.write("etc/pushrelay.conf", R"(
        events { include ../conf.d/events.conf; }
        http { include ../conf.d/servers/*.conf; }
    )");
    LoadResult result = load_file(main, dir.path());
    ASSERT_TRUE(result) << result.error.describe();
    EXPECT_EQ(result.config->conf_path, main);
    EXPECT_EQ(result.config->worker_connections, 64);
    ASSERT_EQ(result.config->servers.size(), 2u);
    EXPECT_EQ(result.config->servers[0].locations[0].push.role, Role::Publisher);
    EXPECT_EQ(result.config->servers[1].locations[0].push.role, Role::Subscriber);
    EXPECT_EQ(result.config->pid_path, dir.path() + "/logs/pushrelay.pid");
}

TEST(LoadFile, RelativePathBecomesAbsolute) {
    TempDir dir;
    dir.write("p.conf", "daemon off;\n");
    auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    LoadResult result = load_file("./p.conf", "/srv");
    std::filesystem::current_path(cwd);
    ASSERT_TRUE(result) << result.error.describe();
    EXPECT_EQ(result.config->conf_path, dir.path() + "/p.conf");
}

TEST(LoadFile, MissingFile) {
    LoadResult result = load_file("/nonexistent/pushrelay.conf", "/srv");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error.file, "/nonexistent/pushrelay.conf");
    EXPECT_EQ(result.error.line, 0);
    EXPECT_NE(result.error.message.find("No such file or directory"), std::string::npos);
}

TEST(LoadFile, ProtocolExampleLoads) {
    // The shape of the conf in protocol.md ("Conf: the shape").
    auto config = load_ok(R"(
worker_processes auto;
pid        /run/pushrelay.pid;
error_log  /var/log/pushrelay/error.log info;
events { worker_connections 16384; }
http {
    push_max_reserved_memory 128M;
    access_log /var/log/pushrelay/access.log;
    client_max_body_size 1m;
    server {
        listen 127.0.0.1:8089;
        location /pub {
            set $push_channel_id $arg_id;
            push_publisher;
            push_message_timeout 2h;
        }
    }
    server {
        listen 8088;
        location /sub {
            set $push_channel_id $arg_id;
            push_subscriber long-poll;
        }
    }
})");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->servers.size(), 2u);
}

TEST(LoadFile, DistConfLoadsIfPresent) {
    std::string path = std::string(PUSHRELAY_SOURCE_DIR) + "/dist/pushrelay.conf";
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << path << " is not written yet";
    }
    TempDir prefix;
    LoadResult result = load_file(path, prefix.path());
    EXPECT_TRUE(result) << result.error.describe();
}

}  // namespace
}  // namespace pushrelay::conf
