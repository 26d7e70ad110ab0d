// The directive table: complete, consistent, and its defaults valid conf.
#include <gtest/gtest.h>

#include <set>

#include "conf/conf.h"

namespace pushrelay::conf {
namespace {

struct Expected {
    std::string_view name;
    std::vector<std::string_view> aliases;
    unsigned contexts;
    std::string_view default_text;
};

constexpr unsigned kHSL = kHttp | kServer | kLocation;
constexpr unsigned kSL = kServer | kLocation;

// protocol.md's directive tables ("Directives", "Core directives").
const std::vector<Expected> kProtocol{
    {"push_publisher", {"push_sender"}, kSL, ""},
    {"push_subscriber", {"push_listener"}, kSL, "long-poll"},
    {"push_subscriber_first_message", {}, kHSL, "oldest"},  // transports.md
    {"push_websocket_ping_interval", {}, kHSL, "0"},        // transports.md
    {"push_subscriber_concurrency", {"push_listener_concurrency"}, kHSL, "broadcast"},
    {"push_store_messages", {"push_queue_messages"}, kHSL, "on"},
    {"push_max_reserved_memory", {"push_buffer_size"}, kHttp, "128M"},
    {"push_max_subscriber_memory", {}, kHttp, "25%"},
    {"push_min_message_buffer_length", {}, kHSL, "1"},
    {"push_max_message_buffer_length", {}, kHSL, "10"},
    {"push_message_buffer_length", {}, kHSL, ""},
    {"push_message_timeout", {}, kHSL, "1h"},
    {"push_min_message_recipients", {}, kHSL, "0"},
    {"push_delete_oldest_received_message", {}, kHSL, "off"},
    {"push_authorized_channels_only", {}, kHSL, "off"},
    {"push_channel_group", {}, kSL, "\"\""},
    {"push_channel_id", {}, kSL, ""},  // transports.md "Conf"
    {"push_channel_id_split_delimiter", {}, kHSL, ""},
    {"push_max_channel_id_length", {}, kHSL, "1024"},
    {"push_max_channel_subscribers", {}, kHSL, "0"},
    {"push_subscriber_timeout", {}, kHSL, "0"},
    {"push_channel_timeout", {}, kHSL, "5s"},
    {"push_ignore_queue_on_no_cache", {}, kHSL, "off"},
    {"push_allow_origin", {}, kHSL, "*"},
    {"push_grip_proxy", {}, kLocation, ""},  // grip.md
    {"push_grip_publish", {}, kLocation, ""},
    {"push_grip_sig_key", {}, kHSL, "changeme"},
    {"push_grip_sig_iss", {}, kHSL, "pushpin"},
    {"push_grip_upstream_key", {}, kHSL, ""},
    {"push_grip_hold_timeout", {}, kHSL, "55s"},
    {"push_grip_hold_timeout_min", {}, kHSL, "5s"},
    {"push_grip_message_wait", {}, kHttp, "5s"},
    {"push_grip_id_cache_ttl", {}, kHttp, "60s"},
    {"push_grip_max_channels", {}, kHSL, "20"},
    {"push_grip_max_instruct_size", {}, kHSL, "100k"},
    {"push_grip_stream_buffer", {}, kHSL, "1m"},
    {"push_grip_connect_timeout", {}, kHSL, "5s"},
    {"push_grip_read_timeout", {}, kHSL, "60s"},
    {"push_grip_keepalive", {}, kHSL, "32"},
    {"push_grip_keepalive_timeout", {}, kHSL, "60s"},
    {"push_grip_x_forwarded_for", {}, kHSL, "append"},
    {"push_grip_debug", {}, kHSL, "off"},
    {"push_eventsource_ping_interval", {}, kHSL, "0"},  // transports.md
    {"push_eventsource_ping_comment", {}, kHSL, "\"\""},
    {"push_eventsource_ping_event", {}, kHSL, "ping"},
    {"push_eventsource_ping_data", {}, kHSL, "\"\""},
    {"push_subscriber_max_unsent_bytes", {}, kHSL, "4m"},  // issue 11: slow stream readers
    {"push_stub_status", {}, kLocation, ""},
    {"push_redis_url", {}, kHttp, ""},  // scale-out.md "Conf"
    {"push_redis_namespace", {}, kHttp, "pushrelay"},
    {"push_redis_storage_mode", {}, kHttp, "distributed"},
    {"push_redis_connect_timeout", {}, kHttp, "2s"},
    {"push_redis_command_timeout", {}, kHttp, "2s"},
    {"worker_processes", {}, kMain, "1"},
    {"worker_rlimit_nofile", {}, kMain, ""},
    {"worker_shutdown_timeout", {}, kMain, "10s"},
    {"pid", {}, kMain, "logs/pushrelay.pid"},
    {"error_log", {}, kMain, "logs/error.log error"},
    {"daemon", {}, kMain, "on"},
    {"include", {}, kAnyContext, ""},
    {"events", {}, kMain, ""},
    {"worker_connections", {}, kEvents, "1024"},
    {"http", {}, kMain, ""},
    {"server", {}, kHttp, ""},
    {"location", {}, kServer, ""},
    {"listen", {}, kServer, ""},
    {"server_name", {}, kServer, ""},
    {"default_type", {}, kHSL, "text/plain"},
    {"access_log", {}, kHSL, "logs/access.log combined"},
    {"log_format", {}, kHttp, ""},
    {"keepalive_timeout", {}, kHSL, "75s"},
    {"keepalive_requests", {}, kHSL, "1000"},
    {"client_max_body_size", {}, kHSL, "1m"},
    {"client_header_timeout", {}, kHSL, "60s"},
    {"client_body_timeout", {}, kHSL, "60s"},
    {"allow", {}, kHSL, ""},
    {"deny", {}, kHSL, ""},
    {"set", {}, kSL, ""},
    {"limit_conn_zone", {}, kHttp, ""},
    {"limit_conn", {}, kHSL, ""},
    {"limit_conn_status", {}, kHSL, "503"},
    {"limit_conn_log_level", {}, kHSL, "error"},
    {"limit_req_zone", {}, kHttp, ""},
    {"limit_req", {}, kHSL, ""},
    {"limit_req_status", {}, kHSL, "503"},
    {"limit_req_log_level", {}, kHSL, "error"},
};

TEST(DirectiveTable, MatchesTheProtocol) {
    ASSERT_EQ(directive_table().size(), kProtocol.size());
    for (const Expected& e : kProtocol) {
        const DirectiveSpec* spec = find_directive(e.name);
        ASSERT_NE(spec, nullptr) << e.name;
        EXPECT_EQ(spec->name, e.name);
        EXPECT_EQ(spec->aliases, e.aliases) << e.name;
        EXPECT_EQ(spec->contexts, e.contexts) << e.name;
        EXPECT_EQ(spec->default_text, e.default_text) << e.name;
        ASSERT_NE(spec->handler, nullptr) << e.name;
        for (std::string_view alias : e.aliases) {
            EXPECT_EQ(find_directive(alias), spec) << alias;
        }
    }
}

TEST(DirectiveTable, NamesAndAliasesAreUnique) {
    std::set<std::string_view> names;
    for (const DirectiveSpec& spec : directive_table()) {
        EXPECT_TRUE(names.insert(spec.name).second) << spec.name;
        for (std::string_view alias : spec.aliases) {
            EXPECT_TRUE(names.insert(alias).second) << alias;
        }
    }
}

TEST(DirectiveTable, ArityIsConsistent) {
    for (const DirectiveSpec& spec : directive_table()) {
        EXPECT_GE(spec.min_args, 0) << spec.name;
        EXPECT_TRUE(spec.max_args == kUnlimitedArgs || spec.max_args >= spec.min_args) << spec.name;
    }
}

TEST(DirectiveTable, UnknownNames) {
    EXPECT_EQ(find_directive("push_accomodate_strangers"), nullptr);
    EXPECT_EQ(find_directive(""), nullptr);
}

// Each default, written in the directive's innermost context, must be a valid conf line
// (the load applies them that way; this shows each one alone).
TEST(DirectiveTable, DefaultsAreValidConf) {
    for (const DirectiveSpec& spec : directive_table()) {
        if (spec.default_text.empty()) {
            continue;
        }
        std::string line = std::string(spec.name) + " " + std::string(spec.default_text) + ";";
        std::string conf;
        if (spec.contexts & kMain) {
            conf = line;
        } else if (spec.contexts & kEvents) {
            conf = "events { " + line + " }";
        } else if (spec.contexts & kHttp) {
            conf = "http { " + line + " }";
        } else {
            conf = "http { server { listen 80; " + line + " } }";
        }
        LoadResult result = load_string(conf, "t.conf", "/p");
        EXPECT_TRUE(result) << conf << ": " << result.error.describe();
    }
}

}  // namespace
}  // namespace pushrelay::conf
