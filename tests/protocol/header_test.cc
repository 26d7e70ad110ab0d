// Tests for protocol/header.h: the Accept splitter channel info and status share (field
// comparison and lookup are exercised through the request parser's tests).
#include "protocol/header.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pushrelay::protocol {
namespace {

// "type|parameters" for each range, to compare in one line.
std::vector<std::string> ranges(std::string_view accept) {
    std::vector<std::string> out;
    for (const MediaRange& range : media_ranges(accept)) {
        out.push_back(std::string(range.type) + "|" + std::string(range.parameters));
    }
    return out;
}

using Ranges = std::vector<std::string>;

TEST(MediaRanges, InHeaderOrderWithTypesTrimmed) {
    EXPECT_EQ(ranges("text/html, application/json ,text/plain"),
              (Ranges{"text/html|", "application/json|", "text/plain|"}));
    EXPECT_EQ(ranges("\tText/Plain\t"), (Ranges{"Text/Plain|"}));
}

TEST(MediaRanges, ParametersFollowTheFirstSemicolonUntrimmed) {
    EXPECT_EQ(ranges("text/plain; version=0.0.4;q=0.5, */*;q=0.1"),
              (Ranges{"text/plain| version=0.0.4;q=0.5", "*/*|q=0.1"}));
    EXPECT_EQ(ranges("application/json;"), (Ranges{"application/json|"}));
}

TEST(MediaRanges, ElementsWithoutATypeAreSkipped) {
    EXPECT_EQ(ranges(""), Ranges{});
    EXPECT_EQ(ranges(" , ,"), Ranges{});
    EXPECT_EQ(ranges("a/b,,c/d"), (Ranges{"a/b|", "c/d|"}));
    EXPECT_EQ(ranges(";q=1, a/b"), (Ranges{"a/b|"}));
}

}  // namespace
}  // namespace pushrelay::protocol
