// push_stub_status: a location answering with the server-wide figures. It is a push role, so it
// excludes push_publisher and push_subscriber in its block, stands only in a location and takes
// no argument.
#include <gtest/gtest.h>

#include <string>

#include "conf/conf.h"
#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using testing::kConfName;
using testing::load;
using testing::load_error;
using testing::loaded_location;
using testing::one_location;

// one_location() puts the body on line 6.
constexpr int kBodyLine = 6;

std::string at(int line, const std::string& message) {
    return std::string(kConfName) + ":" + std::to_string(line) + ": " + message;
}

TEST(StubStatusDirective, InTheTable) {
    const DirectiveSpec* spec = find_directive("push_stub_status");
    ASSERT_NE(spec, nullptr);
    EXPECT_EQ(spec->contexts, kLocation);
    EXPECT_EQ(spec->min_args, 0);
    EXPECT_EQ(spec->max_args, 0);
    EXPECT_EQ(spec->default_text, "");
    EXPECT_EQ(spec->exclusive_group, find_directive("push_publisher")->exclusive_group);
}

TEST(StubStatusDirective, SetsTheStatusRole) {
    EXPECT_EQ(loaded_location("push_stub_status;").push.role, Role::Status);
}

TEST(StubStatusDirective, LeavesOtherLocationsAlone) {
    LoadResult result = load(
        "http {\nserver {\nlisten 127.0.0.1:8080;\npush_publisher;\n"
        "location /status { push_stub_status; }\nlocation /pub { }\n}\n}\n");
    ASSERT_TRUE(result) << result.error.describe();
    const Server& server = result.config->servers.at(0);
    EXPECT_EQ(server.locations.at(0).push.role, Role::Status);
    EXPECT_EQ(server.locations.at(1).push.role, Role::Publisher);
    EXPECT_EQ(server.fallback.push.role, Role::Publisher);
}

TEST(StubStatusDirective, TakesNoArgument) {
    EXPECT_EQ(load_error(one_location("push_stub_status on;")),
              at(kBodyLine, "invalid number of arguments in \"push_stub_status\" directive"));
}

TEST(StubStatusDirective, OnlyInALocation) {
    EXPECT_EQ(load_error("http {\nserver {\nlisten 80;\npush_stub_status;\n}\n}\n"),
              at(4, "\"push_stub_status\" directive is not allowed here"));
    EXPECT_EQ(load_error("http {\npush_stub_status;\n}\n"),
              at(2, "\"push_stub_status\" directive is not allowed here"));
}

TEST(StubStatusDirective, ExcludesPublisherAndSubscriberInItsBlock) {
    EXPECT_EQ(load_error(one_location("push_publisher;\npush_stub_status;")),
              at(kBodyLine + 1,
                 "\"push_stub_status\" directive cannot be used together with "
                 "\"push_publisher\" (" +
                     std::string(kConfName) + ":6) in the same block"));
    EXPECT_EQ(load_error(one_location("push_stub_status;\npush_listener interval-poll;")),
              at(kBodyLine + 1,
                 "\"push_listener\" directive cannot be used together with "
                 "\"push_stub_status\" (" +
                     std::string(kConfName) + ":6) in the same block"));
}

TEST(StubStatusDirective, IsNotRepeatable) {
    EXPECT_EQ(load_error(one_location("push_stub_status;\npush_stub_status;")),
              at(kBodyLine + 1, "\"push_stub_status\" directive is duplicate"));
}

}  // namespace
}  // namespace pushrelay::conf
