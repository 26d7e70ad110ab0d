// grip/headers.h against grip.md "Proxying" (request and plain-response headers), "Response
// hold" (hold and published headers) and "Stream hold".
#include "grip/headers.h"

#include <gtest/gtest.h>

namespace pushrelay::grip {
namespace {

std::vector<std::string> names(const Headers& headers) {
    std::vector<std::string> out;
    for (const protocol::Header& h : headers) out.push_back(h.name + ": " + h.value);
    return out;
}

using Lines = std::vector<std::string>;

// "origin response … no Grip-* header": headers verbatim, order and repeats kept, minus
// hop-by-hop ones (and those Connection names).
TEST(GripHeaders, PlainResponseLosesHopByHopOnly) {
    const Headers origin{{"Set-Cookie", "a=1"},
                         {"Connection", "keep-alive, X-Secret"},
                         {"Transfer-Encoding", "chunked"},
                         {"x-secret", "s"},
                         {"Set-Cookie", "b=2"},
                         {"Keep-Alive", "timeout=5"},
                         {"te", "trailers"},
                         {"Content-Length", "3"},
                         {"Upgrade", "h2c"},
                         {"Proxy-Connection", "x"},
                         {"Trailer", "X"}};
    EXPECT_EQ(names(without_hop_by_hop(origin)),
              (Lines{"Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Length: 3"}));
}

// Proxying "removed" row; Grip-* pass only for a trusted request.
TEST(GripHeaders, OriginRequestHeaders) {
    const Headers client{{"Host", "h"},
                         {"Connection", "Upgrade, X-Hop"},
                         {"X-Hop", "1"},
                         {"Expect", "100-continue"},
                         {"Accept-Encoding", "gzip"},
                         {"Content-Length", "5"},
                         {"Grip-Sig", "forged"},
                         {"grip-last", "c"},
                         {"Accept", "*/*"}};
    EXPECT_EQ(names(origin_request_headers(client, false)), (Lines{"Host: h", "Accept: */*"}));
    EXPECT_EQ(names(origin_request_headers(client, true)),
              (Lines{"Host: h", "Grip-Sig: forged", "grip-last: c", "Accept: */*"}));
}

TEST(GripHeaders, ForwardedFor) {
    Headers h{{"X-Forwarded-For", "1.1.1.1"}, {"A", "a"}, {"x-forwarded-for", "2.2.2.2"}};
    Headers append = h;
    set_forwarded_for(append, ForwardedFor::Append, "9.9.9.9");
    EXPECT_EQ(names(append), (Lines{"A: a", "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 9.9.9.9"}));
    Headers replace = h;
    set_forwarded_for(replace, ForwardedFor::Replace, "9.9.9.9");
    EXPECT_EQ(names(replace), (Lines{"A: a", "X-Forwarded-For: 9.9.9.9"}));
    Headers off = h;
    set_forwarded_for(off, ForwardedFor::Off, "9.9.9.9");
    EXPECT_EQ(names(off), names(h));
    Headers none{{"A", "a"}};
    set_forwarded_for(none, ForwardedFor::Append, "::1");
    EXPECT_EQ(names(none), (Lines{"A: a", "X-Forwarded-For: ::1"}));
}

// Response hold: "Grip-*, Content-Length removed, Grip-Expose-Headers applied".
TEST(GripHeaders, HoldResponseHeaders) {
    const Headers origin{{"Content-Type", "text/plain"},
                         {"Grip-Hold", "response"},
                         {"grip-channel", "c"},
                         {"Content-Length", "2"},
                         {"X-A", "1"},
                         {"Connection", "close"},
                         {"X-B", "2"}};
    EXPECT_EQ(names(hold_response_headers(origin, std::nullopt)),
              (Lines{"Content-Type: text/plain", "X-A: 1", "X-B: 2"}));
    EXPECT_EQ(names(hold_response_headers(origin, std::vector<std::string>{"x-b", "Content-Type"})),
              (Lines{"Content-Type: text/plain", "X-B: 2"}));
    EXPECT_TRUE(hold_response_headers(origin, std::vector<std::string>{}).empty());
}

// Response hold, http-response row: "each published header name replaces every inherited value
// of that name … Hop-by-hop names in published headers are dropped".
TEST(GripHeaders, PublishedHeadersReplaceInheritedOnes) {
    const Headers hold{
        {"Content-Type", "text/plain"}, {"Set-Cookie", "a"}, {"X-Keep", "k"}, {"set-cookie", "b"}};
    const Headers published{{"Set-Cookie", "c"},
                            {"Connection", "close"},
                            {"content-type", "x/y"},
                            {"Set-Cookie", "d"},
                            {"Content-Length", "99"}};
    EXPECT_EQ(names(merge_published_headers(hold, published)),
              (Lines{"X-Keep: k", "Set-Cookie: c", "content-type: x/y", "Set-Cookie: d"}));
    EXPECT_EQ(names(merge_published_headers(hold, {})), names(hold));
}

// Re-request: "one Grip-Last: <channel>; last-id=<prev-id> per channel that has a prev-id".
TEST(GripHeaders, GripLast) {
    const std::vector<HoldChannel> channels{{"a", "3"}, {"b", std::nullopt}, {"c", ""}};
    EXPECT_EQ(names(grip_last_headers(channels)),
              (Lines{"Grip-Last: a; last-id=3", "Grip-Last: c; last-id="}));
    EXPECT_EQ(kGripFeature, "status, link:next");
}

// Proxying, the 502 row, and push_grip_debug.
TEST(GripHeaders, BadGatewayBody) {
    EXPECT_EQ(bad_gateway_body("Grip-Hold is neither response nor stream", false),
              "Error while proxying to origin.\n");
    EXPECT_EQ(bad_gateway_body("Grip-Hold is neither response nor stream", true),
              "Grip-Hold is neither response nor stream\n");
    EXPECT_EQ(bad_gateway_body("", true), "Error while proxying to origin.\n");
}

}  // namespace
}  // namespace pushrelay::grip
