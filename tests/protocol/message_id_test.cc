// Tests for protocol/message_id.h; doc/protocol-formats.md §1.
#include "protocol/message_id.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::protocol {
namespace {

const std::string kDate = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr int64_t kTime = 784111777;

std::optional<core::MessageId> parse(const std::string* ims, const std::string& inm) {
    return parse_message_id(ims, &inm);
}

TEST(MessageId, NoIfModifiedSinceMeansOldest) {
    EXPECT_EQ(parse_message_id(nullptr, nullptr), std::nullopt);
    const std::string tag = "5";
    EXPECT_EQ(parse_message_id(nullptr, &tag), std::nullopt);
}

TEST(MessageId, NoIfNoneMatchMeansTagZero) {
    EXPECT_EQ(parse_message_id(&kDate, nullptr), (core::MessageId{kTime, 0}));
}

TEST(MessageId, BareQuotedAndWeakTags) {
    EXPECT_EQ(parse(&kDate, "3"), (core::MessageId{kTime, 3}));
    EXPECT_EQ(parse(&kDate, "\"3\""), (core::MessageId{kTime, 3}));
    EXPECT_EQ(parse(&kDate, "W/\"3\""), (core::MessageId{kTime, 3}));
    EXPECT_EQ(parse(&kDate, " 4294967295 "), (core::MessageId{kTime, 4294967295u}));
}

TEST(MessageId, GarbageTagIsZero) {
    for (const char* bad : {"", "abc", "3x", "-1", "\"3", "4294967296", "*", "\"\"", "W/3x"}) {
        EXPECT_EQ(parse(&kDate, bad), (core::MessageId{kTime, 0})) << bad;
    }
}

TEST(MessageId, TheThreeDateForms) {
    for (const std::string date : {"Sun, 06 Nov 1994 08:49:37 GMT",
                                   "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"}) {
        EXPECT_EQ(parse(&date, "1"), (core::MessageId{kTime, 1})) << date;
    }
}

TEST(MessageId, MalformedDateIsTimeZero) {
    const std::string bad = "yesterday";
    EXPECT_EQ(parse(&bad, "7"), (core::MessageId{0, 7}));
}

TEST(MessageId, EtagIsAnUnquotedInteger) {
    EXPECT_EQ(format_etag(0), "0");
    EXPECT_EQ(format_etag(4294967295u), "4294967295");
}

// transports.md "Message id" and "Multiplexing": the multiplexed id and its tag list.
namespace list {

IdList parsed(std::string_view text) {
    std::optional<IdList> id = parse_id_list(text);
    EXPECT_TRUE(id) << text;
    return id.value_or(IdList{});
}

TEST(IdList, OneTagAsToday) {
    IdList id = parsed("1795688933:2");
    EXPECT_EQ(id.time, 1795688933);
    ASSERT_EQ(id.tags.size(), 1u);
    EXPECT_EQ(id.tags[0], 2u);
    EXPECT_FALSE(id.source);
}

TEST(IdList, MultiplexedTagsWithTheSourceBracketed) {
    IdList id = parsed("7:1,[0],-");
    EXPECT_EQ(id.time, 7);
    ASSERT_EQ(id.tags.size(), 3u);
    EXPECT_EQ(id.tags[0], 1u);
    EXPECT_EQ(id.tags[1], 0u);
    EXPECT_EQ(id.tags[2], std::nullopt);
    EXPECT_EQ(id.source, 1u);
}

TEST(IdList, MalformedIsRefused) {
    for (const char* bad : {"x:1", ":1", "1:", "1:a", "1:1,2", "1:[1],[2]", "1:[1", "1:1,,[2]",
                            "1:4294967296", "99999999999999999999:1", "1:[]"}) {
        EXPECT_FALSE(parse_id_list(bad)) << bad;
    }
}

TEST(IdList, FormatBracketsTheSourceAndDashesTheEmpty) {
    std::vector<std::optional<uint32_t>> tags{0u, std::nullopt, 5u};
    EXPECT_EQ(format_tag_list(tags, 0), "[0],-,5");
    EXPECT_EQ(format_tag_list(tags, 2), "0,-,[5]");
    EXPECT_EQ(parsed("3:" + format_tag_list(tags, 2)).source, 2u);
}

TEST(IdList, ResumePointPerChannel) {
    IdList id = parsed("100:[1],-");
    EXPECT_EQ(resume_point(id, 0, 2), (core::MessageId{100, 1}));
    // `-`: the first message at time >= 100.
    EXPECT_EQ(resume_point(id, 1, 2), (core::MessageId{99, UINT32_MAX}));
    // Fewer tags than channels: the missing ones are `-`.
    EXPECT_EQ(resume_point(id, 2, 3), (core::MessageId{99, UINT32_MAX}));
    // One channel: its only tag, or the bracketed one of a multiplexed id.
    EXPECT_EQ(resume_point(parsed("100:4"), 0, 1), (core::MessageId{100, 4}));
    EXPECT_EQ(resume_point(parsed("100:4,[6]"), 0, 1), (core::MessageId{100, 6}));
    EXPECT_EQ(resume_point(parsed("0:-"), 0, 1), (core::MessageId{0, 0}));
}

TEST(IdList, HeadersCarryATagList) {
    const std::string inm = "[0],-";
    IdList id = id_list_from_headers(&kDate, &inm);
    EXPECT_EQ(id.time, kTime);
    ASSERT_EQ(id.tags.size(), 2u);
    EXPECT_EQ(id.tags[0], 0u);
    EXPECT_EQ(id.tags[1], std::nullopt);
    const std::string quoted = "\"3\"";
    IdList single = id_list_from_headers(&kDate, &quoted);
    ASSERT_EQ(single.tags.size(), 1u);
    EXPECT_EQ(single.tags[0], 3u);
}

// transports.md "Multiplexing", the id table: a1, b1, a2, b2 in one second, b3 in the next.
TEST(MultiplexedIds, TheTableOfTransportsMd) {
    MultiplexedIds ids(2, std::nullopt);
    EXPECT_EQ(ids.next(0, {100, 0}), "[0],-");
    EXPECT_EQ(ids.next(1, {100, 0}), "0,[0]");
    EXPECT_EQ(ids.next(0, {100, 1}), "[1],0");
    EXPECT_EQ(ids.next(1, {100, 1}), "1,[1]");
    EXPECT_EQ(ids.next(1, {101, 0}), "-,[0]");
}

TEST(MultiplexedIds, ContinuesFromTheIdResumedFrom) {
    MultiplexedIds same_second(3, parse_id_list("100:[1],-"));
    EXPECT_EQ(same_second.next(1, {100, 0}), "1,[0],-");
    MultiplexedIds later(2, parse_id_list("99:[1],4"));
    EXPECT_EQ(later.next(1, {100, 0}), "-,[0]");
}

}  // namespace list

}  // namespace
}  // namespace pushrelay::protocol
