// Tests for protocol/response.h: reason phrases, the head layout (doc/protocol-formats.md §5),
// HTTP-dates and error bodies.
#include "protocol/response.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::protocol {
namespace {

constexpr time_t kRfcExample = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 §5.6.7)

// doc/protocol-formats.md §5.2
TEST(ReasonPhrase, KnownStatuses) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(201), "Created");
    EXPECT_EQ(reason_phrase(202), "Accepted");
    EXPECT_EQ(reason_phrase(204), "No Content");
    EXPECT_EQ(reason_phrase(304), "Not Modified");
    EXPECT_EQ(reason_phrase(400), "Bad Request");
    EXPECT_EQ(reason_phrase(403), "Forbidden");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
    EXPECT_EQ(reason_phrase(409), "Conflict");
    EXPECT_EQ(reason_phrase(410), "Gone");
    EXPECT_EQ(reason_phrase(413), "Request Entity Too Large");
    EXPECT_EQ(reason_phrase(414), "Request-URI Too Large");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(500), "Internal Server Error");
    EXPECT_EQ(reason_phrase(501), "Not Implemented");
    EXPECT_EQ(reason_phrase(503), "Service Unavailable");
    EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
    EXPECT_EQ(reason_phrase(507), "Insufficient Storage");
}

TEST(ReasonPhrase, UnknownStatusHasAnEmptyReason) {
    EXPECT_EQ(reason_phrase(299), "");
}

// Splits a head into its status line and the header lines, checking the CRLF framing.
std::vector<std::string> head_lines(const std::string& head) {
    EXPECT_TRUE(head.ends_with("\r\n\r\n"));
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t end; (end = head.find("\r\n", start)) != std::string::npos; start = end + 2) {
        lines.push_back(head.substr(start, end - start));
    }
    EXPECT_TRUE(lines.back().empty());
    lines.pop_back();
    return lines;
}

// doc/protocol-formats.md §5
TEST(ResponseHead, LayoutIsStatusAddedHeadersThenServerDateLengthConnection) {
    ResponseHead head(201, 1);
    head.add("Content-Type", "text/plain");
    head.add("Etag", "0");
    std::vector<std::string> lines = head_lines(head.finish(42, true));
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(lines[0], "HTTP/1.1 201 Created");
    EXPECT_EQ(lines[1], "Content-Type: text/plain");
    EXPECT_EQ(lines[2], "Etag: 0");
    EXPECT_EQ(lines[3], "Server: pushrelay");
    ASSERT_TRUE(lines[4].starts_with("Date: "));
    std::optional<time_t> date = parse_http_date(lines[4].substr(6));
    ASSERT_TRUE(date.has_value());
    EXPECT_LE(*date, time(nullptr));
    EXPECT_EQ(lines[5], "Content-Length: 42");
    EXPECT_EQ(lines[6], "Connection: keep-alive");
}

TEST(ResponseHead, FinishDoesNotChangeTheHead) {
    ResponseHead head(200, 0);
    std::vector<std::string> close = head_lines(head.finish(0, false));
    std::vector<std::string> again = head_lines(head.finish(7, false));
    EXPECT_EQ(close[0], "HTTP/1.0 200 OK");
    EXPECT_EQ(close.back(), "Connection: close");
    EXPECT_EQ(again[again.size() - 2], "Content-Length: 7");
    EXPECT_EQ(close.size(), again.size());
}

TEST(ResponseHead, NoContentLengthWhereThereIsNoBody) {
    for (int status : {204, 304}) {
        std::string head = ResponseHead(status, 1).finish(0, true);
        EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    }
}

TEST(ResponseHead, ExplicitReason) {
    std::string head = ResponseHead(299, "Custom Thing", 1).finish(0, true);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 299 Custom Thing\r\n")) << head;
    std::string empty_reason = ResponseHead(299, 1).finish(0, true);
    EXPECT_TRUE(empty_reason.starts_with("HTTP/1.1 299 \r\n")) << empty_reason;
}

TEST(HttpDate, FormatsImfFixdate) {
    EXPECT_EQ(http_date(kRfcExample), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(HttpDate, RoundTrips) {
    for (time_t t : {time_t{0}, kRfcExample, time_t{951782400} /* 2000-02-29 */,
                     time_t{4102444799} /* 2099-12-31 23:59:59 */, time(nullptr)}) {
        EXPECT_EQ(parse_http_date(http_date(t)), t) << http_date(t);
    }
}

// doc/protocol-formats.md §5.3
TEST(HttpDate, ParsesTheThreeForms) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcExample);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcExample);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kRfcExample);
    EXPECT_EQ(parse_http_date("Sun Nov 16 08:49:37 1994"), kRfcExample + 10 * 86400);
}

TEST(HttpDate, Rfc850TwoDigitYears) {
    EXPECT_EQ(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
    EXPECT_EQ(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"), 946684800);
}

TEST(HttpDate, RejectsMalformedDates) {
    for (const char* bad :
         {"", "garbage", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
          "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1969 08:49:37 GMT",
          "Sun, 06 Nov 1994 08:49:37 GMT trailing", "Xyz, 06 Nov 1994 08:49:37 GMT",
          "Sun Nov 6 08:49:37 1994", "Sun, 06-Nov-94 08:49:37 GMT"}) {
        EXPECT_FALSE(parse_http_date(bad).has_value()) << bad;
    }
}

// doc/protocol-formats.md §5.4
TEST(ErrorBody, PlainTextWithReason) {
    EXPECT_EQ(error_body(400, "No channel id provided."),
              "400 Bad Request: No channel id provided.\n");
    EXPECT_EQ(error_body(404, ""), "404 Not Found\n");
}

}  // namespace
}  // namespace pushrelay::protocol
