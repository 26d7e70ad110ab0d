#include "conf/values.h"

#include <gtest/gtest.h>

namespace pushrelay::conf {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseSize, AcceptsBytesAndBinarySuffixes) {
    EXPECT_EQ(parse_size("0"), 0u);
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("16k"), 16u * 1024);
    EXPECT_EQ(parse_size("16K"), 16u * 1024);
    EXPECT_EQ(parse_size("1m"), 1024u * 1024);
    EXPECT_EQ(parse_size("128M"), 128u * 1024 * 1024);
    EXPECT_EQ(parse_size("2g"), 2ull * 1024 * 1024 * 1024);
    EXPECT_EQ(parse_size("3G"), 3ull * 1024 * 1024 * 1024);
}

TEST(ParseSize, RejectsJunkSignsAndOverflow) {
    for (const char* bad : {"", "12x", "k", "-1", "+1", "1.5m", "1 m", "1mb", "1kk",
                            "18446744073709551616", "17179869184g"}) {
        EXPECT_FALSE(parse_size(bad)) << bad;
    }
    EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseTime, BareNumberIsSeconds) {
    EXPECT_EQ(parse_time("0"), Millis(0));
    EXPECT_EQ(parse_time("30"), seconds(30));
}

TEST(ParseTime, AcceptsEveryUnit) {
    EXPECT_EQ(parse_time("500ms"), Millis(500));
    EXPECT_EQ(parse_time("5s"), seconds(5));
    EXPECT_EQ(parse_time("2m"), minutes(2));
    EXPECT_EQ(parse_time("2h"), hours(2));
    EXPECT_EQ(parse_time("1d"), hours(24));
    EXPECT_EQ(parse_time("1w"), hours(24 * 7));
}

TEST(ParseTime, AcceptsConcatenationsInDecreasingOrder) {
    EXPECT_EQ(parse_time("1h30m"), minutes(90));
    EXPECT_EQ(parse_time("1m30"), seconds(90));
    EXPECT_EQ(parse_time("1m500ms"), Millis(60500));
    EXPECT_EQ(parse_time("1d2h3m4s5ms"), Millis(((26 * 60 + 3) * 60 + 4) * 1000 + 5));
}

TEST(ParseTime, RejectsJunkOrderAndOverflow) {
    for (const char* bad : {"", "5x", "h", "-1s", "1.5h", "30m1h", "1s1s", "1s30", "1ms5", "1 h",
                            "9223372036854775807s", "99999999999999999999"}) {
        EXPECT_FALSE(parse_time(bad)) << bad;
    }
}

TEST(ParseCount, AcceptsUnsigned32Bit) {
    EXPECT_EQ(parse_count("0"), 0u);
    EXPECT_EQ(parse_count("1024"), 1024u);
    EXPECT_EQ(parse_count("4294967295"), 4294967295u);
}

TEST(ParseCount, RejectsOthers) {
    for (const char* bad : {"", "-1", "+1", "1k", "4294967296", "abc", "1 "}) {
        EXPECT_FALSE(parse_count(bad)) << bad;
    }
}

TEST(ParseFlag, OnAndOffOnly) {
    EXPECT_EQ(parse_flag("on"), true);
    EXPECT_EQ(parse_flag("off"), false);
    EXPECT_FALSE(parse_flag("yes"));
    EXPECT_FALSE(parse_flag("ON"));
}

TEST(ResolvePath, RelativeGoesUnderBase) {
    EXPECT_EQ(resolve_path("/srv/pr", "logs/a.log"), "/srv/pr/logs/a.log");
    EXPECT_EQ(resolve_path("/srv/pr/", "logs/a.log"), "/srv/pr/logs/a.log");
    EXPECT_EQ(resolve_path("/srv/pr", "/var/log/a.log"), "/var/log/a.log");
    EXPECT_EQ(resolve_path("", "logs/a.log"), "logs/a.log");
}

}  // namespace
}  // namespace pushrelay::conf
