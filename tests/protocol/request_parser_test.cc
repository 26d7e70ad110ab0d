// Tests for protocol/request_parser.h: the byte-fed request parser, its pauses, limits and
// errors (doc/protocol-formats.md §4).
#include "protocol/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace pushrelay::protocol {
namespace {

using Event = RequestParser::Event;
using namespace std::string_view_literals;

// What a connection would see: the requests completed, and the error that ended it, if any.
struct Outcome {
    std::vector<Request> requests;
    int error_status = 0;
    std::string error_reason;
};

// Drives a parser the way a worker does: bytes arrive in `pieces`; unconsumed bytes stay buffered
// and are fed again; at HeadersComplete the body limit is set; at MessageComplete the request is
// taken and the parser reset.
Outcome drive(const std::vector<std::string_view>& pieces, RequestParser::Limits limits = {},
              uint64_t body_limit = 0) {
    RequestParser parser(limits);
    Outcome out;
    std::string pending;
    for (std::string_view piece : pieces) {
        pending.append(piece);
        for (;;) {
            RequestParser::Step step = parser.feed(pending.data(), pending.size());
            EXPECT_LE(step.consumed, pending.size());
            pending.erase(0, step.consumed);
            if (step.event == Event::NeedMore) {
                EXPECT_TRUE(pending.empty());
                break;
            }
            if (step.event == Event::Error) {
                out.error_status = parser.error_status();
                out.error_reason = parser.error_reason();
                return out;
            }
            if (step.event == Event::HeadersComplete) {
                parser.set_body_limit(body_limit);
                continue;
            }
            out.requests.push_back(parser.request());
            parser.reset();
        }
    }
    return out;
}

Outcome drive_all(std::string_view input, RequestParser::Limits limits = {},
                  uint64_t body_limit = 0) {
    return drive({input}, limits, body_limit);
}

// The same input, one byte per feed.
Outcome drive_bytewise(std::string_view input) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < input.size(); ++i) {
        bytes.push_back(input.substr(i, 1));
    }
    return drive(bytes);
}

void expect_same_request(const Request& a, const Request& b) {
    EXPECT_EQ(a.method, b.method);
    EXPECT_EQ(a.target, b.target);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.query, b.query);
    EXPECT_EQ(a.http_major, b.http_major);
    EXPECT_EQ(a.http_minor, b.http_minor);
    ASSERT_EQ(a.headers.size(), b.headers.size());
    for (size_t i = 0; i < a.headers.size(); ++i) {
        EXPECT_EQ(a.headers[i].name, b.headers[i].name);
        EXPECT_EQ(a.headers[i].value, b.headers[i].value);
    }
    EXPECT_EQ(a.body, b.body);
    EXPECT_EQ(a.keep_alive, b.keep_alive);
}

constexpr std::string_view kPipelinedPair =
    "POST /pub?id=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    "GET /sub?id=a HTTP/1.1\r\nHost: h\r\nIf-None-Match: 3\r\n\r\n";

TEST(RequestParser, SimpleGetPausesAfterHeadersThenCompletesWithoutMoreBytes) {
    constexpr std::string_view kGet = "GET /sub?id=abc HTTP/1.1\r\nHost: example\r\n\r\n";
    RequestParser parser;
    RequestParser::Step step = parser.feed(kGet.data(), kGet.size());
    EXPECT_EQ(step.event, Event::HeadersComplete);
    EXPECT_EQ(step.consumed, kGet.size());
    const Request& r = parser.request();
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/sub?id=abc");
    EXPECT_EQ(r.path, "/sub");
    EXPECT_EQ(r.query, "id=abc");
    EXPECT_EQ(r.http_major, 1);
    EXPECT_EQ(r.http_minor, 1);
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].name, "Host");
    EXPECT_EQ(r.headers[0].value, "example");

    step = parser.feed(nullptr, 0);
    EXPECT_EQ(step.event, Event::MessageComplete);
    EXPECT_EQ(step.consumed, 0u);
    EXPECT_TRUE(parser.request().keep_alive);
    EXPECT_TRUE(parser.request().body.empty());
}

TEST(RequestParser, HeaderLookupIsCaseInsensitiveAndValuesAreTrimmed) {
    Outcome out =
        drive_all("GET / HTTP/1.1\r\ncontent-TYPE:   text/x  \t\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    const Request& r = out.requests[0];
    ASSERT_NE(r.header("Content-Type"), nullptr);
    EXPECT_EQ(*r.header("Content-Type"), "text/x");
    EXPECT_EQ(r.headers[0].name, "content-TYPE");
    EXPECT_EQ(*r.header("X-A"), "1");
    EXPECT_EQ(r.header("Missing"), nullptr);
}

TEST(RequestParser, PostWithContentLength) {
    Outcome out = drive_all("POST /pub HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello\0world"sv);
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].method, "POST");
    EXPECT_EQ(out.requests[0].body, std::string("hello\0world", 11));
}

TEST(RequestParser, ChunkedPostIsDechunked) {
    Outcome out = drive_all(kPipelinedPair.substr(0, kPipelinedPair.find("GET")));
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].body, "hello world");
    EXPECT_EQ(out.error_status, 0);
}

TEST(RequestParser, PipelinedPairStopsAtEachMessageBoundary) {
    RequestParser parser;
    const size_t first_head = kPipelinedPair.find("\r\n\r\n") + 4;
    const size_t second_start = kPipelinedPair.find("GET");

    RequestParser::Step step = parser.feed(kPipelinedPair.data(), kPipelinedPair.size());
    EXPECT_EQ(step.event, Event::HeadersComplete);
    EXPECT_EQ(step.consumed, first_head);
    size_t offset = step.consumed;
    step = parser.feed(kPipelinedPair.data() + offset, kPipelinedPair.size() - offset);
    EXPECT_EQ(step.event, Event::MessageComplete);
    EXPECT_EQ(offset + step.consumed, second_start);
    EXPECT_EQ(parser.request().path, "/pub");
    offset += step.consumed;

    parser.reset();
    step = parser.feed(kPipelinedPair.data() + offset, kPipelinedPair.size() - offset);
    EXPECT_EQ(step.event, Event::HeadersComplete);
    EXPECT_EQ(offset + step.consumed, kPipelinedPair.size());
    step = parser.feed(nullptr, 0);
    EXPECT_EQ(step.event, Event::MessageComplete);
    EXPECT_EQ(parser.request().path, "/sub");
    EXPECT_EQ(*parser.request().header("If-None-Match"), "3");
}

// reset() keeps the strings' memory for the next request: nothing of the previous request may
// show through (shorter values, fewer headers, no query, no body, another version).
TEST(RequestParser, ReusedParserGivesFreshRequests) {
    Outcome out = drive_all(
        "POST /a/long/path/for/the/first/request?id=channel-with-a-long-name HTTP/1.1\r\n"
        "Host: example.org\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT   \r\n"
        "X-Other:   padded value   \r\nContent-Length: 5\r\n\r\nhello"
        "GET /b HTTP/1.0\r\nIf-None-Match: 7\r\n\r\n"
        "GET /c%41?q HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 3u);
    const Request& first = out.requests[0];
    EXPECT_EQ(*first.header("If-Modified-Since"), "Thu, 01 Jan 1970 00:00:01 GMT");
    EXPECT_EQ(*first.header("X-Other"), "padded value");
    EXPECT_EQ(first.body, "hello");
    const Request& second = out.requests[1];
    EXPECT_EQ(second.method, "GET");
    EXPECT_EQ(second.target, "/b");
    EXPECT_EQ(second.path, "/b");
    EXPECT_EQ(second.query, "");
    EXPECT_EQ(second.http_minor, 0);
    EXPECT_FALSE(second.keep_alive);
    ASSERT_EQ(second.headers.size(), 1u);
    EXPECT_EQ(second.headers[0].name, "If-None-Match");
    EXPECT_EQ(second.headers[0].value, "7");
    EXPECT_EQ(second.body, "");
    const Request& third = out.requests[2];
    EXPECT_EQ(third.path, "/cA");
    EXPECT_EQ(third.query, "q");
    EXPECT_EQ(third.http_minor, 1);
    ASSERT_EQ(third.headers.size(), 4u);
    EXPECT_EQ(third.headers[3].name, "C");
    EXPECT_EQ(third.headers[3].value, "3");
}

TEST(RequestParser, ResetForgetsTheRequestAtOnce) {
    RequestParser parser;
    std::string_view req = "POST /p?q=1 HTTP/1.0\r\nX-A: b\r\nContent-Length: 2\r\n\r\nhi";
    RequestParser::Step step = parser.feed(req.data(), req.size());
    ASSERT_EQ(step.event, Event::HeadersComplete);
    req.remove_prefix(step.consumed);
    ASSERT_EQ(parser.feed(req.data(), req.size()).event, Event::MessageComplete);
    EXPECT_EQ(parser.request().body, "hi");
    parser.reset();
    const Request& r = parser.request();
    EXPECT_EQ(r.method, "");
    EXPECT_EQ(r.target, "");
    EXPECT_EQ(r.path, "");
    EXPECT_EQ(r.query, "");
    EXPECT_TRUE(r.headers.empty());
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(r.http_minor, 1);
    EXPECT_FALSE(r.keep_alive);
}

TEST(RequestParser, OneBytePerFeedGivesTheSameRequests) {
    Outcome whole = drive_all(kPipelinedPair);
    Outcome bytewise = drive_bytewise(kPipelinedPair);
    ASSERT_EQ(whole.requests.size(), 2u);
    ASSERT_EQ(bytewise.requests.size(), 2u);
    expect_same_request(whole.requests[0], bytewise.requests[0]);
    expect_same_request(whole.requests[1], bytewise.requests[1]);
}

TEST(RequestParser, EverySplitPositionGivesTheSameRequests) {
    Outcome whole = drive_all(kPipelinedPair);
    for (size_t split = 1; split < kPipelinedPair.size(); ++split) {
        SCOPED_TRACE(split);
        Outcome two = drive({kPipelinedPair.substr(0, split), kPipelinedPair.substr(split)});
        ASSERT_EQ(two.requests.size(), 2u);
        expect_same_request(whole.requests[0], two.requests[0]);
        expect_same_request(whole.requests[1], two.requests[1]);
    }
}

TEST(RequestParser, BodyBeyondContentLengthIsTheNextRequest) {
    Outcome out =
        drive_all("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 2u);
    EXPECT_EQ(out.requests[0].body, "abc");
    EXPECT_EQ(out.requests[1].path, "/b");
}

TEST(RequestParser, PostWithoutContentLengthHasAnEmptyBody) {
    Outcome out = drive_all("POST /a HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_TRUE(out.requests[0].body.empty());
}

// doc/protocol-formats.md §4.3
TEST(RequestParser, KeepAliveFollowsVersionAndConnectionHeader) {
    auto keep_alive = [](std::string_view input) {
        Outcome out = drive_all(input);
        EXPECT_EQ(out.requests.size(), 1u) << input;
        return !out.requests.empty() && out.requests[0].keep_alive;
    };
    EXPECT_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
    EXPECT_TRUE(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_TRUE(keep_alive("GET / HTTP/1.1\r\n\r\n"));
    EXPECT_FALSE(keep_alive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
}

TEST(RequestParser, Http10RequestReportsItsVersion) {
    Outcome out = drive_all("GET /x HTTP/1.0\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].http_major, 1);
    EXPECT_EQ(out.requests[0].http_minor, 0);
}

// doc/protocol-formats.md §4.3
TEST(RequestParser, UpgradeIsIgnoredAndParsingContinues) {
    Outcome out = drive_all(
        "GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        "GET /b HTTP/1.1\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 2u);
    EXPECT_EQ(out.requests[1].path, "/b");
}

TEST(RequestParser, BadRequestLineIs400) {
    EXPECT_EQ(drive_all("GARBAGE\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET / HTTP/1.1 extra\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET / FTP/1.1\r\n\r\n").error_status, 400);
}

TEST(RequestParser, NonPathTargetIs400) {
    Outcome out = drive_all("GET relative HTTP/1.1\r\n\r\n");
    EXPECT_EQ(out.error_status, 400);
    EXPECT_FALSE(out.error_reason.empty());
}

// doc/protocol-formats.md §4.2
TEST(RequestParser, AbsoluteFormTargetKeepsOnlyPathAndQuery) {
    Outcome out = drive_all("GET http://example.com:8088/sub?id=1 HTTP/1.1\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].path, "/sub");
    EXPECT_EQ(out.requests[0].query, "id=1");

    out = drive_all("GET HTTP://example.com?id=2 HTTP/1.1\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].path, "/");
    EXPECT_EQ(out.requests[0].query, "id=2");
}

TEST(RequestParser, AsteriskFormForOptions) {
    Outcome out = drive_all("OPTIONS * HTTP/1.1\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].method, "OPTIONS");
    EXPECT_EQ(out.requests[0].path, "*");
}

// doc/protocol-formats.md §4.1
TEST(RequestParser, BadHeaderIs400) {
    EXPECT_EQ(drive_all("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET / HTTP/1.1\r\nNoColon\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n").error_status, 400);
}

TEST(RequestParser, NulByteIs400) {
    EXPECT_EQ(drive_all("GET /a\0b HTTP/1.1\r\n\r\n"sv).error_status, 400);
    EXPECT_EQ(drive_all("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n"sv).error_status, 400);
    EXPECT_EQ(drive_all("GET / HTTP/1.1\r\nA\0: b\r\n\r\n"sv).error_status, 400);
}

TEST(RequestParser, ErrorIsSticky) {
    RequestParser parser;
    constexpr std::string_view kBad = "GARBAGE\r\n\r\n";
    EXPECT_EQ(parser.feed(kBad.data(), kBad.size()).event, Event::Error);
    constexpr std::string_view kGood = "GET / HTTP/1.1\r\n\r\n";
    RequestParser::Step step = parser.feed(kGood.data(), kGood.size());
    EXPECT_EQ(step.event, Event::Error);
    EXPECT_EQ(step.consumed, 0u);
}

// doc/protocol-formats.md §4.1
TEST(RequestParser, OversizeHeaderLineIs431WithoutReadingPastTheLimit) {
    std::string input = "GET / HTTP/1.1\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n";
    RequestParser parser;
    size_t offset = 0;
    RequestParser::Step step{Event::NeedMore, 0};
    // Arrives in 4 KB reads, as from a socket.
    while (offset < input.size() && step.event == Event::NeedMore) {
        size_t n = std::min<size_t>(4096, input.size() - offset);
        step = parser.feed(input.data() + offset, n);
        offset += step.consumed;
    }
    EXPECT_EQ(step.event, Event::Error);
    EXPECT_EQ(parser.error_status(), 431);
    EXPECT_LE(offset, RequestParser::Limits{}.max_header_bytes);
}

// doc/protocol-formats.md §4.1: nginx answers a request line that does not fit with 414.
TEST(RequestParser, OversizeRequestLineIs414) {
    const std::string target = "/sub?id=" + std::string(20 * 1024, 'a');
    const std::string input = "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
    Outcome whole = drive_all(input);
    EXPECT_EQ(whole.error_status, 414);
    EXPECT_EQ(whole.error_reason, "request line too long");
    EXPECT_EQ(drive_bytewise(input).error_status, 414);
    // The same bytes in the headers instead are still 431.
    const std::string in_header = "GET / HTTP/1.1\r\nX-Long: " + target + "\r\n\r\n";
    EXPECT_EQ(drive_all(in_header).error_status, 431);
}

TEST(RequestParser, RequestLineThatFitsButHeadersDoNotIs431) {
    constexpr std::string_view kGet = "GET /abc HTTP/1.1\r\nHost: h\r\n\r\n";
    RequestParser::Limits line_only{.max_header_bytes = 20, .max_headers = 100};
    EXPECT_EQ(drive_all(kGet, line_only).error_status, 431);
    RequestParser::Limits short_line{.max_header_bytes = 8, .max_headers = 100};
    EXPECT_EQ(drive_all(kGet, short_line).error_status, 414);
}

TEST(RequestParser, HeaderBlockExactlyAtTheLimitIsAccepted) {
    constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    RequestParser::Limits exact{.max_header_bytes = kGet.size(), .max_headers = 100};
    EXPECT_EQ(drive_all(kGet, exact).requests.size(), 1u);
    EXPECT_EQ(drive_bytewise(kGet).requests.size(), 1u);
    RequestParser::Limits one_less{.max_header_bytes = kGet.size() - 1, .max_headers = 100};
    EXPECT_EQ(drive_all(kGet, one_less).error_status, 431);
}

// doc/protocol-formats.md §4.1
TEST(RequestParser, TenThousandHeadersIs431) {
    std::string input = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 10000; ++i) {
        input += "X-" + std::to_string(i) + ": v\r\n";
    }
    input += "\r\n";
    EXPECT_EQ(drive_all(input).error_status, 431);
    // With room for the bytes, the header count limit is what stops it.
    RequestParser::Limits roomy{.max_header_bytes = 1 << 20, .max_headers = 100};
    Outcome out = drive_all(input, roomy);
    EXPECT_EQ(out.error_status, 431);
    EXPECT_EQ(out.error_reason, "too many request header fields");
}

TEST(RequestParser, ContentLengthOverTheBodyLimitIs413AtOnce) {
    constexpr std::string_view kPost = "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n";
    RequestParser parser;
    ASSERT_EQ(parser.feed(kPost.data(), kPost.size()).event, Event::HeadersComplete);
    parser.set_body_limit(99);
    EXPECT_EQ(parser.error_status(), 413);
    EXPECT_EQ(parser.feed("x", 1).event, Event::Error);
}

TEST(RequestParser, ContentLengthAtTheBodyLimitIsAccepted) {
    Outcome out = drive_all("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", {}, 5);
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].body, "hello");
}

TEST(RequestParser, ChunkedBodyGrowingOverTheLimitIs413) {
    constexpr std::string_view kChunked =
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
    EXPECT_EQ(drive_all(kChunked, {}, 8).requests.size(), 1u);
    EXPECT_EQ(drive_all(kChunked, {}, 7).error_status, 413);
}

TEST(RequestParser, InvalidChunkSizeIs400) {
    Outcome out =
        drive_all("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n");
    EXPECT_EQ(out.error_status, 400);
}

TEST(RequestParser, ContentLengthWithChunkedIs400) {
    Outcome out = drive_all(
        "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nabcd\r\n0\r\n\r\n");
    EXPECT_EQ(out.error_status, 400);
}

TEST(RequestParser, TransferEncodingNotEndingInChunkedIs400) {
    Outcome out = drive_all("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc");
    EXPECT_EQ(out.error_status, 400);
}

TEST(RequestParser, OtherHttpMajorVersionsAre505) {
    EXPECT_EQ(drive_all("GET / HTTP/2.0\r\n\r\n").error_status, 505);
    EXPECT_EQ(drive_all("GET / HTTP/0.9\r\n\r\n").error_status, 505);
    EXPECT_EQ(drive_all("GET / HTTP/1.2\r\n\r\n").error_status, 400);
}

// doc/protocol-formats.md §4.2
TEST(RequestParser, PathIsPercentDecodedQueryIsNot) {
    Outcome out = drive_all("GET /ch%20an%2Fnel%41?id=a%20b HTTP/1.1\r\n\r\n");
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].path, "/ch an/nelA");
    EXPECT_EQ(out.requests[0].query, "id=a%20b");
    EXPECT_EQ(out.requests[0].target, "/ch%20an%2Fnel%41?id=a%20b");
}

TEST(RequestParser, BadPercentEscapesAre400) {
    EXPECT_EQ(drive_all("GET /a%00b HTTP/1.1\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET /a%zz HTTP/1.1\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET /a%4 HTTP/1.1\r\n\r\n").error_status, 400);
    EXPECT_EQ(drive_all("GET /a% HTTP/1.1\r\n\r\n").error_status, 400);
}

TEST(RequestParser, ExpectContinue) {
    auto expects = [](std::string_view head) {
        RequestParser parser;
        EXPECT_EQ(parser.feed(head.data(), head.size()).event, Event::HeadersComplete);
        return parser.expects_continue();
    };
    EXPECT_TRUE(expects("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"));
    EXPECT_FALSE(expects("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n"));
    // RFC 9110 §10.1.1: ignored from an HTTP/1.0 client.
    EXPECT_FALSE(expects("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"));
}

TEST(RequestParser, Http2PrefaceIs505) {
    Outcome out = drive_all("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    EXPECT_EQ(out.error_status, 505);
}

TEST(RequestParser, ResetClearsTheRequest) {
    RequestParser parser;
    constexpr std::string_view kPost = "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
    ASSERT_EQ(parser.feed(kPost.data(), kPost.size()).event, Event::HeadersComplete);
    parser.reset();
    EXPECT_TRUE(parser.request().path.empty());
    EXPECT_TRUE(parser.request().headers.empty());
    EXPECT_EQ(parser.error_status(), 0);
}

TEST(RequestParser, MovedParserKeepsParsing) {
    RequestParser first;
    constexpr std::string_view kHead = "GET /moved HTTP/1.1\r\n";
    ASSERT_EQ(first.feed(kHead.data(), kHead.size()).event, Event::NeedMore);
    RequestParser second = std::move(first);
    ASSERT_EQ(second.feed("\r\n", 2).event, Event::HeadersComplete);
    EXPECT_EQ(second.request().path, "/moved");
}

}  // namespace
}  // namespace pushrelay::protocol
