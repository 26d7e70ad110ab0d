#include "push/stream.h"

#include <gtest/gtest.h>

#include <cctype>

namespace pushrelay::push {
namespace {

constexpr core::MessageId kId{1795688933, 0};

std::string data_of(std::string_view body) {
    std::string frame = eventsource_frame(kId, "", body);
    const std::string id = "id: 1795688933:0\n";
    EXPECT_EQ(frame.substr(0, id.size()), id);
    return frame.substr(id.size());
}

TEST(EventSourceFrame, OneLine) {
    EXPECT_EQ(eventsource_frame(kId, "", "hello"), "id: 1795688933:0\ndata: hello\n\n");
}

TEST(EventSourceFrame, CutAfterEveryNewline) {
    EXPECT_EQ(data_of("a\nb"), "data: a\ndata: b\n\n");
    EXPECT_EQ(data_of("a\n"), "data: a\ndata: \n\n");
    EXPECT_EQ(data_of(""), "data: \n\n");
    EXPECT_EQ(data_of("x\r\ny"), "data: x\r\ndata: y\n\n");
    EXPECT_EQ(data_of("\n\n"), "data: \ndata: \ndata: \n\n");
}

TEST(EventSourceFrame, TagInId) {
    EXPECT_EQ(eventsource_frame({7, 12}, "", "m"), "id: 7:12\ndata: m\n\n");
}

TEST(EventSourceFrame, EventLineFirst) {  // transports.md "EventSource": event, id, data
    EXPECT_EQ(eventsource_frame({7, 12}, "beat", "m"), "event: beat\nid: 7:12\ndata: m\n\n");
}

TEST(MultipartPart, WithoutContentType) {
    EXPECT_EQ(multipart_part({1795688933, 3}, "", "body"),
              "\r\nLast-Modified: Thu, 26 Nov 2026 10:28:53 GMT\r\nEtag: 3\r\n\r\nbody\r\n--");
}

TEST(MultipartPart, WithContentType) {
    EXPECT_EQ(multipart_part({0, 0}, "text/plain", ""),
              "\r\nLast-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\nEtag: 0\r\n"
              "Content-Type: text/plain\r\n\r\n\r\n--");
}

TEST(MultipartBoundary, ThirtyTwoAlphanumerics) {
    std::string a = make_boundary();
    ASSERT_EQ(a.size(), 32u);
    for (char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
    EXPECT_NE(a, make_boundary());
}

}  // namespace
}  // namespace pushrelay::push
