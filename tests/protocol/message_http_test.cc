// Tests for protocol/message_http.h; the accepted syntax is doc/protocol-formats.md §3.
#include "protocol/message_http.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::protocol {
namespace {

using namespace std::string_view_literals;

HttpMessage parse_ok(std::string_view text) {
    auto result = parse_message_http(text);
    if (const std::string* err = std::get_if<std::string>(&result)) {
        ADD_FAILURE() << "unexpected error: " << *err;
        return {};
    }
    return std::get<HttpMessage>(std::move(result));
}

std::string parse_error(std::string_view text) {
    auto result = parse_message_http(text);
    const std::string* err = std::get_if<std::string>(&result);
    EXPECT_NE(err, nullptr) << "parsed: " << text;
    return err != nullptr ? *err : std::string();
}

TEST(MessageHttp, GoodMessage) {
    HttpMessage msg = parse_ok(
        "HTTP/1.1 404 Not Here\r\nContent-Type: application/json\r\nX-A:  b \r\n\r\n{\"x\":1}");
    EXPECT_EQ(msg.status, 404);
    EXPECT_EQ(msg.reason, "Not Here");
    ASSERT_EQ(msg.headers.size(), 2u);
    EXPECT_EQ(msg.headers[0].name, "Content-Type");
    EXPECT_EQ(msg.headers[0].value, "application/json");
    EXPECT_EQ(msg.headers[1].name, "X-A");
    EXPECT_EQ(msg.headers[1].value, "b");
    EXPECT_EQ(msg.body, "{\"x\":1}");
}

TEST(MessageHttp, BareLineFeeds) {
    HttpMessage msg = parse_ok("HTTP/1.0 200 OK\nX-A: 1\n\nbody\r\nmore");
    EXPECT_EQ(msg.status, 200);
    ASSERT_EQ(msg.headers.size(), 1u);
    EXPECT_EQ(msg.headers[0].value, "1");
    EXPECT_EQ(msg.body, "body\r\nmore");
}

TEST(MessageHttp, NoHeadersAndNoReason) {
    HttpMessage msg = parse_ok("HTTP/1.1 200\r\n\r\n");
    EXPECT_EQ(msg.status, 200);
    EXPECT_EQ(msg.reason, "");
    EXPECT_TRUE(msg.headers.empty());
    EXPECT_TRUE(msg.body.empty());
}

TEST(MessageHttp, BinaryBodyIsKeptByteForByte) {
    const std::string_view text = "HTTP/1.1 200 OK\r\n\r\n\0\xff\r\n\n\0"sv;
    HttpMessage msg = parse_ok(text);
    EXPECT_EQ(msg.body, "\0\xff\r\n\n\0"sv);
    EXPECT_EQ(msg.body.data(), text.data() + 19);
}

TEST(MessageHttp, RelayOwnedHeadersAreDropped) {
    HttpMessage msg = parse_ok(
        "HTTP/1.1 200 OK\r\nContent-Length: 99\r\ntransfer-encoding: chunked\r\n"
        "Connection: close\r\nKeep-Alive: timeout=5\r\nServer: x\r\nDate: y\r\nX-Kept: 1\r\n\r\n");
    ASSERT_EQ(msg.headers.size(), 1u);
    EXPECT_EQ(msg.headers[0].name, "X-Kept");
}

TEST(MessageHttp, BadStatusLine) {
    parse_error("200 OK\r\n\r\n");
    parse_error("HTTP/2 200 OK\r\n\r\n");
    parse_error("HTTP/1.1 20 OK\r\n\r\n");
    parse_error("HTTP/1.1 2000 OK\r\n\r\n");
    parse_error("HTTP/1.1 abc OK\r\n\r\n");
    parse_error("HTTP/1.1 200 O\x01K\r\n\r\n");
    parse_error("");
}

TEST(MessageHttp, StatusOutOfRange) {
    parse_error("HTTP/1.1 099 X\r\n\r\n");
    parse_error("HTTP/1.1 100 Continue\r\n\r\n");
    parse_error("HTTP/1.1 600 X\r\n\r\n");
    EXPECT_EQ(parse_ok("HTTP/1.1 599 X\r\n\r\n").status, 599);
}

TEST(MessageHttp, BadHeader) {
    EXPECT_NE(parse_error("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n").find("':'"), std::string::npos);
    parse_error("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n");
    parse_error("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n");
    parse_error("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n");
    parse_error("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n");
}

TEST(MessageHttp, MissingBlankLine) {
    EXPECT_NE(parse_error("HTTP/1.1 200 OK\r\nA: b\r\n").find("empty line"), std::string::npos);
    parse_error("HTTP/1.1 200 OK\r\nA: b");
    parse_error("HTTP/1.1 200 OK");
}

TEST(MessageHttp, NoBodyOn204Or304) {
    parse_error("HTTP/1.1 204 No Content\r\n\r\nx");
    parse_error("HTTP/1.1 304 Not Modified\r\n\r\nx");
    EXPECT_EQ(parse_ok("HTTP/1.1 204 No Content\r\n\r\n").status, 204);
}

TEST(IsMessageHttp, MediaTypeIsCaseInsensitiveAndIgnoresParameters) {
    EXPECT_TRUE(is_message_http("message/http"));
    EXPECT_TRUE(is_message_http("Message/HTTP"));
    EXPECT_TRUE(is_message_http("message/http; msgtype=response"));
    EXPECT_TRUE(is_message_http("MESSAGE/Http ;x=1"));
    EXPECT_FALSE(is_message_http("message/https"));
    EXPECT_FALSE(is_message_http("text/plain"));
    EXPECT_FALSE(is_message_http(""));
}

}  // namespace
}  // namespace pushrelay::protocol
