#include "http/access_log.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace pushrelay::http::access_log {
namespace {

struct AccessLogTest : ::testing::Test {
    AccessLogTest() {
        peer.sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
        request.method = "GET";
        request.target = "/sub?id=a";
        request.path = "/sub";
        request.query = "id=a";
        request.headers = {{"User-Agent", "curl/8 \"quoted\""}, {"Referer", "http://x/"}};
    }
    Entry entry(int status) {
        return {request, reinterpret_cast<const sockaddr*>(&peer), status, 5, 120, 1.5, 0.0};
    }
    sockaddr_in peer{};
    protocol::Request request;
};

TEST_F(AccessLogTest, ExpandsTheRequestVariables) {
    EXPECT_EQ(
        format_line("$remote_addr \"$request\" $status $body_bytes_sent $bytes_sent", entry(200)),
        "127.0.0.1 \"GET /sub?id=a HTTP/1.1\" 200 5 120\n");
    EXPECT_EQ(format_line("${uri}?$args $request_time", entry(304)), "/sub?id=a 1.500\n");
}

TEST_F(AccessLogTest, EscapesWhatTheClientSent) {
    EXPECT_EQ(format_line("$http_user_agent", entry(200)), "curl/8 \\x22quoted\\x22\n");
    request.target = "/sub?id=\n\x01";
    EXPECT_EQ(format_line("$request_uri", entry(200)), "/sub?id=\\x0a\\x01\n");
}

TEST_F(AccessLogTest, MissingAndUnknownVariablesPrintADash) {
    EXPECT_EQ(format_line("$http_x_missing $no_such_variable $remote_user", entry(200)), "- - -\n");
}

}  // namespace
}  // namespace pushrelay::http::access_log
