// upstream::ResponseParser on byte strings: framing, interim responses, bodiless responses and
// malformed input, each also fed one byte at a time (a response arrives in arbitrary pieces).
#include "upstream/response_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::upstream {
namespace {

struct Parsed {
    bool head = false;
    std::string body;
    bool complete = false;
    std::string error;
};

// Feeds `wire` in pieces of `piece` bytes (then EOF when `eof`), collecting the events.
Parsed parse(ResponseParser& p, const std::string& wire, size_t piece, bool eof = false) {
    Parsed out;
    size_t pos = 0;
    auto handle = [&](ResponseParser::Step step) {
        switch (step.event) {
            case ResponseParser::Event::Head:
                out.head = true;
                break;
            case ResponseParser::Event::Body:
                out.body.append(step.body);
                break;
            case ResponseParser::Event::Complete:
                out.complete = true;
                break;
            case ResponseParser::Event::Error:
                out.error = std::string(p.error());
                break;
            case ResponseParser::Event::NeedMore:
                break;
        }
        return step.event;
    };
    while (!out.complete && out.error.empty()) {
        size_t end = std::min(wire.size(), pos + piece);
        auto step = p.feed(wire.data() + pos, end - pos);
        pos += step.consumed;
        if (handle(step) == ResponseParser::Event::NeedMore && pos == wire.size()) {
            if (eof) {
                handle(p.finish());
            }
            break;
        }
    }
    return out;
}

class ResponseParserTest : public ::testing::TestWithParam<size_t> {};

TEST_P(ResponseParserTest, ContentLengthHeadVerbatim) {
    ResponseParser p(false, {});
    Parsed r = parse(p,
                     "HTTP/1.1 201 Very Created\r\nX-A: 1\r\nSet-Cookie: a\r\nset-cookie: b  \r\n"
                     "Content-Length: 5\r\n\r\nhello",
                     GetParam());
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(p.head().status, 201);
    EXPECT_EQ(p.head().reason, "Very Created");
    ASSERT_EQ(p.head().headers.size(), 4u);
    EXPECT_EQ(p.head().headers[2].name, "set-cookie");
    EXPECT_EQ(p.head().headers[2].value, "b");
    EXPECT_FALSE(p.head().chunked);
    EXPECT_TRUE(p.keep_alive());
}

TEST_P(ResponseParserTest, ChunkedIsDechunked) {
    ResponseParser p(false, {});
    Parsed r = parse(p,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
                     GetParam());
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(r.body, "hello world");
    EXPECT_TRUE(p.head().chunked);
    EXPECT_TRUE(p.keep_alive());
}

TEST_P(ResponseParserTest, CloseDelimitedEndsAtEof) {
    ResponseParser p(false, {});
    Parsed r = parse(p, "HTTP/1.1 200 OK\r\n\r\nall of it", GetParam(), true);
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(r.body, "all of it");
    EXPECT_FALSE(p.keep_alive());
}

TEST_P(ResponseParserTest, InterimResponsesAreSkipped) {
    ResponseParser p(false, {});
    Parsed r = parse(p,
                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                     GetParam());
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(p.head().status, 200);
    EXPECT_TRUE(p.head().headers.size() == 1 && p.head().headers[0].name == "Content-Length");
    EXPECT_EQ(r.body, "ok");
}

TEST_P(ResponseParserTest, BodilessStatusesIgnoreContentLength) {
    for (const char* status : {"204 No Content", "304 Not Modified"}) {
        ResponseParser p(false, {});
        Parsed r = parse(p, std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 5\r\n\r\n",
                         GetParam());
        ASSERT_TRUE(r.complete) << status << r.error;
        EXPECT_TRUE(p.head().bodiless);
        EXPECT_TRUE(p.keep_alive());
    }
}

TEST_P(ResponseParserTest, HeadRequestHasNoBody) {
    ResponseParser p(true, {});
    Parsed r = parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", GetParam());
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_TRUE(r.body.empty());
    EXPECT_TRUE(p.keep_alive());
}

TEST_P(ResponseParserTest, Http10KeepAliveOnlyWhenAsked) {
    ResponseParser closing(false, {});
    ASSERT_TRUE(
        parse(closing, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", GetParam()).complete);
    EXPECT_FALSE(closing.keep_alive());
    ResponseParser kept(false, {});
    ASSERT_TRUE(parse(kept,
                      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                      GetParam())
                    .complete);
    EXPECT_TRUE(kept.keep_alive());
    ResponseParser told(false, {});
    ASSERT_TRUE(
        parse(told, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", GetParam())
            .complete);
    EXPECT_FALSE(told.keep_alive());
}

TEST_P(ResponseParserTest, MalformedAndTruncated) {
    for (const char* wire :
         {"HTTP/1.1 abc OK\r\n\r\n", "garbage\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
          "HTTP/1.1 101 Switching Protocols\r\n\r\n"}) {
        ResponseParser p(false, {});
        Parsed r = parse(p, wire, GetParam(), true);
        EXPECT_FALSE(r.complete) << wire;
        EXPECT_TRUE(r.error.starts_with("malformed response")) << wire << " → " << r.error;
    }
    ResponseParser smuggled(false, {});
    Parsed bad = parse(smuggled,
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhelloXX0\r\n\r\n",
                       GetParam());
    EXPECT_EQ(bad.error, "malformed response: expected CRLF after chunk");
    ResponseParser cut(false, {});
    Parsed r = parse(cut, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", GetParam(), true);
    EXPECT_EQ(r.error, "truncated response");
    EXPECT_EQ(r.body, "short");
}

TEST_P(ResponseParserTest, HeaderBlockLimit) {
    ResponseParser p(false, {.max_header_bytes = 64, .max_headers = 100});
    Parsed r = parse(p, "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a') + "\r\n\r\n", GetParam());
    EXPECT_EQ(r.error, "malformed response: header block too large");
}

INSTANTIATE_TEST_SUITE_P(Pieces, ResponseParserTest, ::testing::Values(1, 7, 4096));

}  // namespace
}  // namespace pushrelay::upstream
