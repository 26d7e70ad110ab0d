// Tests for protocol/query.h: the query argument scanner that $arg_NAME and the status
// location's format= share.
#include "protocol/query.h"

#include <gtest/gtest.h>

namespace pushrelay::protocol {
namespace {

TEST(QueryArgument, FirstMatchWinsAndTheValueStaysRaw) {
    EXPECT_EQ(query_argument("id=42&id=43", "id"), "42");
    EXPECT_EQ(query_argument("a=1&id=x%20y&b=2", "id"), "x%20y");
    EXPECT_EQ(query_argument("id=a=b", "id"), "a=b");
}

TEST(QueryArgument, NameIgnoresCaseAsNginxArgDoes) {
    EXPECT_EQ(query_argument("ID=7", "id"), "7");
    EXPECT_EQ(query_argument("Format=json", "format"), "json");
}

TEST(QueryArgument, EmptyValueIsFound) {
    EXPECT_EQ(query_argument("id=&x=1", "id"), "");
}

TEST(QueryArgument, NameWithoutEqualsIsNoArgument) {
    EXPECT_EQ(query_argument("id", "id"), std::nullopt);
    EXPECT_EQ(query_argument("id&id=5", "id"), "5");
}

TEST(QueryArgument, OnlyWholeNamesMatch) {
    EXPECT_EQ(query_argument("xid=1&idx=2", "id"), std::nullopt);
    EXPECT_EQ(query_argument("", "id"), std::nullopt);
    EXPECT_EQ(query_argument("&&id=3&", "id"), "3");
}

TEST(QueryArgument, ViewPointsIntoTheQuery) {
    std::string_view query = "a=1&id=value";
    std::optional<std::string_view> value = query_argument(query, "id");
    ASSERT_TRUE(value);
    EXPECT_EQ(value->data(), query.data() + 7);
}

TEST(PercentDecode, DecodesEitherCaseAndRefusesMalformedEscapesAndNul) {
    std::string out;
    EXPECT_TRUE(percent_decode("a%3Ab%3a%25", out));
    EXPECT_EQ(out, "a:b:%");
    EXPECT_FALSE(percent_decode("50%", out));
    EXPECT_FALSE(percent_decode("%4", out));
    EXPECT_FALSE(percent_decode("%G1", out));
    EXPECT_FALSE(percent_decode("a%00b", out));
}

}  // namespace
}  // namespace pushrelay::protocol
