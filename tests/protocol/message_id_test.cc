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

}  // namespace
}  // namespace pushrelay::protocol
