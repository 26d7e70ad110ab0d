// Tests for protocol/server_status.h; the exact bytes are doc/protocol-formats.md §6, the format
// choice §6.1.
#include "protocol/server_status.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace pushrelay::protocol {
namespace {

// Every figure different, so that a figure printed in another's place shows.
constexpr ServerStatus kStatus{
    .channels = 2,
    .subscribers = 3,
    .longpoll_subscribers = 14,
    .eventsource_subscribers = 15,
    .websocket_subscribers = 16,
    .chunked_subscribers = 17,
    .multipart_subscribers = 18,
    .grip_response_subscribers = 21,
    .grip_stream_subscribers = 22,
    .messages = 4,
    .published = 5,
    .delivered = 6,
    .grip_items_published = 19,
    .grip_items_waiting = 23,
    .grip_items_duplicate = 24,
    .grip_rerequests = 25,
    .grip_origin_errors = 26,
    .segment_used = 7000,
    .segment_total = 134217728,
    .subscriber_share_used = 12,
    .subscriber_share_total = 13,
    .workers = 8,
    .connections = 9,
    .uptime_seconds = 10,
    .reloads = 11,
};

TEST(ServerStatusFormat, Text) {
    EXPECT_EQ(format_server_status(kStatus, StatusFormat::Text),
              "Active connections: 9\n"
              "Workers: 8\n"
              "Channels: 2\n"
              "Subscribers: 3\n"
              "Long-poll subscribers: 14\n"
              "EventSource subscribers: 15\n"
              "WebSocket subscribers: 16\n"
              "Chunked subscribers: 17\n"
              "Multipart subscribers: 18\n"
              "GRIP response holds: 21\n"
              "GRIP stream holds: 22\n"
              "Stored messages: 4\n"
              "Published messages: 5\n"
              "Delivered messages: 6\n"
              "GRIP items published: 19\n"
              "GRIP items waiting: 23\n"
              "GRIP items dropped as duplicates: 24\n"
              "GRIP re-requests: 25\n"
              "GRIP origin errors: 26\n"
              "Segment bytes used: 7000\n"
              "Segment bytes total: 134217728\n"
              "Subscriber share bytes used: 12\n"
              "Subscriber share bytes total: 13\n"
              "Uptime seconds: 10\n"
              "Reloads: 11\n");
}

TEST(ServerStatusFormat, Json) {
    EXPECT_EQ(
        format_server_status(kStatus, StatusFormat::Json),
        "{\"connections\": 9, \"workers\": 8, \"channels\": 2, \"subscribers\": 3, "
        "\"longpoll_subscribers\": 14, \"eventsource_subscribers\": 15, "
        "\"websocket_subscribers\": 16, \"chunked_subscribers\": 17, "
        "\"multipart_subscribers\": 18, \"grip_response_subscribers\": 21, "
        "\"grip_stream_subscribers\": 22, \"messages\": 4, \"published\": 5, \"delivered\": 6, "
        "\"grip_items_published\": 19, \"grip_items_waiting\": 23, "
        "\"grip_items_duplicate\": 24, \"grip_rerequests\": 25, \"grip_origin_errors\": 26, "
        "\"segment_used\": 7000, "
        "\"segment_total\": 134217728, \"subscriber_share_used\": 12, "
        "\"subscriber_share_total\": 13, \"uptime_seconds\": 10, \"reloads\": 11}\n");
}

TEST(ServerStatusFormat, Yaml) {
    EXPECT_EQ(format_server_status(kStatus, StatusFormat::Yaml),
              "---\n"
              "connections: 9\n"
              "workers: 8\n"
              "channels: 2\n"
              "subscribers: 3\n"
              "longpoll_subscribers: 14\n"
              "eventsource_subscribers: 15\n"
              "websocket_subscribers: 16\n"
              "chunked_subscribers: 17\n"
              "multipart_subscribers: 18\n"
              "grip_response_subscribers: 21\n"
              "grip_stream_subscribers: 22\n"
              "messages: 4\n"
              "published: 5\n"
              "delivered: 6\n"
              "grip_items_published: 19\n"
              "grip_items_waiting: 23\n"
              "grip_items_duplicate: 24\n"
              "grip_rerequests: 25\n"
              "grip_origin_errors: 26\n"
              "segment_used: 7000\n"
              "segment_total: 134217728\n"
              "subscriber_share_used: 12\n"
              "subscriber_share_total: 13\n"
              "uptime_seconds: 10\n"
              "reloads: 11\n");
}

TEST(ServerStatusFormat, Prometheus) {
    EXPECT_EQ(
        format_server_status(kStatus, StatusFormat::Prometheus),
        "# HELP pushrelay_connections Client connections open, across all workers.\n"
        "# TYPE pushrelay_connections gauge\n"
        "pushrelay_connections 9\n"
        "# HELP pushrelay_workers Worker processes running.\n"
        "# TYPE pushrelay_workers gauge\n"
        "pushrelay_workers 8\n"
        "# HELP pushrelay_channels Channels that exist.\n"
        "# TYPE pushrelay_channels gauge\n"
        "pushrelay_channels 2\n"
        "# HELP pushrelay_subscribers Subscribers held, across all workers.\n"
        "# TYPE pushrelay_subscribers gauge\n"
        "pushrelay_subscribers 3\n"
        "# HELP pushrelay_subscribers_longpoll Long-poll subscribers held, across all workers.\n"
        "# TYPE pushrelay_subscribers_longpoll gauge\n"
        "pushrelay_subscribers_longpoll 14\n"
        "# HELP pushrelay_subscribers_eventsource EventSource streams held, across all workers.\n"
        "# TYPE pushrelay_subscribers_eventsource gauge\n"
        "pushrelay_subscribers_eventsource 15\n"
        "# HELP pushrelay_subscribers_websocket WebSocket subscribers held, across all workers.\n"
        "# TYPE pushrelay_subscribers_websocket gauge\n"
        "pushrelay_subscribers_websocket 16\n"
        "# HELP pushrelay_subscribers_chunked HTTP chunked streams held, across all workers.\n"
        "# TYPE pushrelay_subscribers_chunked gauge\n"
        "pushrelay_subscribers_chunked 17\n"
        "# HELP pushrelay_subscribers_multipart multipart/mixed streams held, across all workers.\n"
        "# TYPE pushrelay_subscribers_multipart gauge\n"
        "pushrelay_subscribers_multipart 18\n"
        "# HELP pushrelay_subscribers_grip_response GRIP response holds, one per channel, across "
        "all workers.\n"
        "# TYPE pushrelay_subscribers_grip_response gauge\n"
        "pushrelay_subscribers_grip_response 21\n"
        "# HELP pushrelay_subscribers_grip_stream GRIP stream holds, one per channel, across all "
        "workers.\n"
        "# TYPE pushrelay_subscribers_grip_stream gauge\n"
        "pushrelay_subscribers_grip_stream 22\n"
        "# HELP pushrelay_messages_stored Messages stored in channel queues.\n"
        "# TYPE pushrelay_messages_stored gauge\n"
        "pushrelay_messages_stored 4\n"
        "# HELP pushrelay_messages_published_total Messages published.\n"
        "# TYPE pushrelay_messages_published_total counter\n"
        "pushrelay_messages_published_total 5\n"
        "# HELP pushrelay_messages_delivered_total Messages delivered to subscribers, one "
        "per subscriber.\n"
        "# TYPE pushrelay_messages_delivered_total counter\n"
        "pushrelay_messages_delivered_total 6\n"
        "# HELP pushrelay_grip_items_published_total GRIP items published through "
        "push_grip_publish (also counted as messages published).\n"
        "# TYPE pushrelay_grip_items_published_total counter\n"
        "pushrelay_grip_items_published_total 19\n"
        "# HELP pushrelay_grip_items_waiting GRIP items waiting for their predecessor "
        "(prev-id) or push_grip_message_wait.\n"
        "# TYPE pushrelay_grip_items_waiting gauge\n"
        "pushrelay_grip_items_waiting 23\n"
        "# HELP pushrelay_grip_items_duplicate_total GRIP items dropped because their id was "
        "seen within push_grip_id_cache_ttl.\n"
        "# TYPE pushrelay_grip_items_duplicate_total counter\n"
        "pushrelay_grip_items_duplicate_total 24\n"
        "# HELP pushrelay_grip_rerequests_total Requests sent again to a GRIP origin for a "
        "hold.\n"
        "# TYPE pushrelay_grip_rerequests_total counter\n"
        "pushrelay_grip_rerequests_total 25\n"
        "# HELP pushrelay_grip_origin_errors_total GRIP origin failures: 502 answers and "
        "response bodies cut short.\n"
        "# TYPE pushrelay_grip_origin_errors_total counter\n"
        "pushrelay_grip_origin_errors_total 26\n"
        "# HELP pushrelay_segment_used_bytes Bytes of the shared memory segment in use.\n"
        "# TYPE pushrelay_segment_used_bytes gauge\n"
        "pushrelay_segment_used_bytes 7000\n"
        "# HELP pushrelay_segment_size_bytes Size of the shared memory segment in bytes.\n"
        "# TYPE pushrelay_segment_size_bytes gauge\n"
        "pushrelay_segment_size_bytes 134217728\n"
        "# HELP pushrelay_subscriber_share_used_bytes Bytes of the channels subscribers "
        "created that no publish has reached yet.\n"
        "# TYPE pushrelay_subscriber_share_used_bytes gauge\n"
        "pushrelay_subscriber_share_used_bytes 12\n"
        "# HELP pushrelay_subscriber_share_bytes The most bytes those channels may take "
        "(push_max_subscriber_memory).\n"
        "# TYPE pushrelay_subscriber_share_bytes gauge\n"
        "pushrelay_subscriber_share_bytes 13\n"
        "# HELP pushrelay_uptime_seconds Seconds since the server started.\n"
        "# TYPE pushrelay_uptime_seconds gauge\n"
        "pushrelay_uptime_seconds 10\n"
        "# HELP pushrelay_reloads_total Configuration reloads since the server started.\n"
        "# TYPE pushrelay_reloads_total counter\n"
        "pushrelay_reloads_total 11\n");
}

TEST(ServerStatusFormat, ZeroAndLargestValues) {
    ServerStatus status{};
    status.published = UINT64_MAX;
    EXPECT_EQ(
        format_server_status(status, StatusFormat::Json),
        "{\"connections\": 0, \"workers\": 0, \"channels\": 0, \"subscribers\": 0, "
        "\"longpoll_subscribers\": 0, \"eventsource_subscribers\": 0, "
        "\"websocket_subscribers\": 0, \"chunked_subscribers\": 0, "
        "\"multipart_subscribers\": 0, \"grip_response_subscribers\": 0, "
        "\"grip_stream_subscribers\": 0, \"messages\": 0, \"published\": 18446744073709551615, "
        "\"delivered\": 0, \"grip_items_published\": 0, \"grip_items_waiting\": 0, "
        "\"grip_items_duplicate\": 0, \"grip_rerequests\": 0, \"grip_origin_errors\": 0, "
        "\"segment_used\": 0, \"segment_total\": 0, \"subscriber_share_used\": 0, "
        "\"subscriber_share_total\": 0, \"uptime_seconds\": 0, "
        "\"reloads\": 0}\n");
    EXPECT_NE(format_server_status(status, StatusFormat::Yaml)
                  .find("\npublished: 18446744073709551615\n"),
              std::string::npos);
}

// Redis mode's rows come last, and only in Redis mode (doc/protocol-formats.md §6).
TEST(ServerStatusFormat, RedisRowsFollowTheOthersInRedisModeOnly) {
    ServerStatus status{};
    status.reloads = 11;
    status.redis_up = 1;
    status.redis_channels = 2;
    status.redis_connects = 3;
    status.redis_commands = 4;
    status.redis_errors = 5;
    status.redis_resyncs = 6;
    status.redis_recovered = 7;
    status.cache_hits = 8;
    status.cache_misses = 9;
    status.redis_unavailable = 10;
    EXPECT_EQ(format_server_status(status, StatusFormat::Text).find("Redis"), std::string::npos);
    status.redis_mode = true;
    const std::string text = format_server_status(status, StatusFormat::Text);
    EXPECT_NE(text.find("Reloads: 11\n"
                        "Redis up: 1\n"
                        "Redis channels: 2\n"
                        "Redis connects: 3\n"
                        "Redis commands: 4\n"
                        "Redis errors: 5\n"
                        "Redis resyncs: 6\n"
                        "Redis recovered: 7\n"
                        "Cache hits: 8\n"
                        "Cache misses: 9\n"
                        "Redis unavailable: 10\n"),
              std::string::npos)
        << text;
    const std::string json = format_server_status(status, StatusFormat::Json);
    EXPECT_NE(json.find("\"reloads\": 11, \"redis_up\": 1, \"redis_channels\": 2, "),
              std::string::npos)
        << json;
    EXPECT_NE(json.find("\"redis_unavailable\": 10}\n"), std::string::npos) << json;
    const std::string metrics = format_server_status(status, StatusFormat::Prometheus);
    EXPECT_NE(metrics.find("# TYPE pushrelay_redis_up gauge\npushrelay_redis_up 1\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("# TYPE pushrelay_redis_recovered_messages_total counter\n"
                           "pushrelay_redis_recovered_messages_total 7\n"),
              std::string::npos);
    EXPECT_NE(format_server_status(status, StatusFormat::Yaml).find("\ncache_misses: 9\n"),
              std::string::npos);
}

TEST(ServerStatusContentType, OnePerFormat) {
    EXPECT_EQ(status_content_type(StatusFormat::Text), "text/plain");
    EXPECT_EQ(status_content_type(StatusFormat::Json), "application/json");
    EXPECT_EQ(status_content_type(StatusFormat::Yaml), "application/yaml");
    EXPECT_EQ(status_content_type(StatusFormat::Prometheus),
              "text/plain; version=0.0.4; charset=utf-8");
}

StatusFormat choose(const std::string& accept, std::string_view query = "") {
    return choose_status_format(&accept, query);
}

TEST(ChooseStatusFormat, DefaultIsText) {
    EXPECT_EQ(choose_status_format(nullptr, ""), StatusFormat::Text);
    EXPECT_EQ(choose(""), StatusFormat::Text);
    EXPECT_EQ(choose("*/*"), StatusFormat::Text);
    EXPECT_EQ(choose("text/html, image/png"), StatusFormat::Text);
    EXPECT_EQ(choose("application/xml"), StatusFormat::Text);
}

TEST(ChooseStatusFormat, AcceptNamesEachFormat) {
    EXPECT_EQ(choose("text/plain"), StatusFormat::Text);
    EXPECT_EQ(choose("text/plain; version=0.0.4"), StatusFormat::Prometheus);
    EXPECT_EQ(choose("text/plain;version=\"0.0.4\";q=0.5"), StatusFormat::Prometheus);
    EXPECT_EQ(choose("application/openmetrics-text; version=1.0.0"), StatusFormat::Prometheus);
    EXPECT_EQ(choose("application/json"), StatusFormat::Json);
    EXPECT_EQ(choose("application/yaml"), StatusFormat::Yaml);
    EXPECT_EQ(choose("application/x-yaml"), StatusFormat::Yaml);
    EXPECT_EQ(choose("text/yaml"), StatusFormat::Yaml);
}

TEST(ChooseStatusFormat, OtherTextPlainVersionsAreText) {
    EXPECT_EQ(choose("text/plain; version=1.0.0"), StatusFormat::Text);
    EXPECT_EQ(choose("text/plain; charset=utf-8"), StatusFormat::Text);
    EXPECT_EQ(choose("text/plain; version=0.0.4x"), StatusFormat::Text);
}

TEST(ChooseStatusFormat, FirstMatchInHeaderOrderCaseInsensitive) {
    // What Prometheus 2.x sends when it scrapes.
    EXPECT_EQ(choose("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              StatusFormat::Prometheus);
    EXPECT_EQ(choose("text/html, Application/JSON ;q=0.1, text/yaml"), StatusFormat::Json);
    EXPECT_EQ(choose("text/plain, application/json"), StatusFormat::Text);
    EXPECT_EQ(choose("TEXT/PLAIN; VERSION=0.0.4"), StatusFormat::Prometheus);
}

TEST(ChooseStatusFormat, QueryArgumentWins) {
    EXPECT_EQ(choose("application/json", "format=prometheus"), StatusFormat::Prometheus);
    EXPECT_EQ(choose("text/plain; version=0.0.4", "format=text"), StatusFormat::Text);
    EXPECT_EQ(choose_status_format(nullptr, "format=json"), StatusFormat::Json);
    EXPECT_EQ(choose_status_format(nullptr, "a=1&format=yaml&format=json"), StatusFormat::Yaml);
}

// The name is matched as nginx's $arg_format would be: ignoring case (the value is not).
TEST(ChooseStatusFormat, QueryArgumentNameIgnoresCase) {
    EXPECT_EQ(choose_status_format(nullptr, "FORMAT=json"), StatusFormat::Json);
    EXPECT_EQ(choose("application/json", "Format=yaml"), StatusFormat::Yaml);
}

TEST(ChooseStatusFormat, UnknownOrMalformedQueryArgumentsFallBackToAccept) {
    EXPECT_EQ(choose("application/json", "format=xml"), StatusFormat::Json);
    EXPECT_EQ(choose("application/json", "format=JSON"), StatusFormat::Json);
    EXPECT_EQ(choose("application/yaml", "format"), StatusFormat::Yaml);
    EXPECT_EQ(choose("application/yaml", "xformat=json"), StatusFormat::Yaml);
    EXPECT_EQ(choose_status_format(nullptr, "format="), StatusFormat::Text);
}

}  // namespace
}  // namespace pushrelay::protocol
