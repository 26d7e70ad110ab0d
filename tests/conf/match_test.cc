// nginx location selection (match_location).
#include <gtest/gtest.h>

#include "conf/conf.h"
#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using testing::load;

// Each location sets push_channel_group to its own name, so a match is easy to identify.
constexpr const char* kConf = R"(http { server {
    listen 8080;
    push_channel_group fallback;
    location = /exact { push_channel_group exact; }
    location / { push_channel_group root; }
    location /pub { push_channel_group pub; }
    location /pub/long { push_channel_group pub-long; }
    location ^~ /static { push_channel_group static; }
    location ~ ^/pub/(\w+)/(\d+)$ { push_channel_group regex; }
    location ~* \.JSON$ { push_channel_group caseless; }
    location ~ ^/static/x$ { push_channel_group never; }
    location ~ /exact { push_channel_group regex-exact; }
} })";

class MatchLocation : public ::testing::Test {
  protected:
    void SetUp() override {
        LoadResult result = load(kConf);
        ASSERT_TRUE(result) << result.error.describe();
        config = std::move(result.config);
    }

    std::string match(std::string_view path) {
        return match_location(config->servers.at(0), path, captures).push.channel_group;
    }

    std::unique_ptr<Config> config;
    std::vector<std::string> captures{"stale"};
};

TEST_F(MatchLocation, ExactWinsOverEverything) {
    EXPECT_EQ(match("/exact"), "exact");
    EXPECT_TRUE(captures.empty());
    EXPECT_EQ(match("/exact/more"), "regex-exact");  // not exact any more: regexes apply
}

TEST_F(MatchLocation, LongestPrefix) {
    EXPECT_EQ(match("/other"), "root");
    EXPECT_EQ(match("/pub"), "pub");
    EXPECT_EQ(match("/pub/longer"), "pub-long");
    EXPECT_EQ(match("/publish"), "pub");
}

TEST_F(MatchLocation, RegexBeatsPrefixAndFillsCaptures) {
    EXPECT_EQ(match("/pub/news/42"), "regex");
    EXPECT_EQ(captures, (std::vector<std::string>{"news", "42"}));
    EXPECT_EQ(match("/pub/news/x"), "pub");
    EXPECT_TRUE(captures.empty());
}

TEST_F(MatchLocation, CaselessRegex) {
    EXPECT_EQ(match("/data.json"), "caseless");
    EXPECT_EQ(match("/data.JsOn"), "caseless");
}

TEST_F(MatchLocation, PrefixWithCaretTildeStopsRegexSearch) {
    EXPECT_EQ(match("/static/x"), "static");
    EXPECT_EQ(match("/static/a.json"), "static");
}

TEST(MatchLocationFallback, NoLocationMatches) {
    LoadResult result = load(R"(http { server {
        listen 8080;
        push_subscriber;
        location /pub { push_publisher; }
        location ~ ^/x$ { }
    } })");
    ASSERT_TRUE(result) << result.error.describe();
    const Server& server = result.config->servers[0];
    std::vector<std::string> captures;
    const Location& loc = match_location(server, "/sub", captures);
    EXPECT_EQ(&loc, &server.fallback);
    EXPECT_EQ(loc.push.role, Role::Subscriber);
    EXPECT_EQ(loc.match, Location::Match::Prefix);
    EXPECT_EQ(loc.pattern, "");
}

TEST(MatchLocationFallback, GluedModifiers) {
    LoadResult result = load(R"(http { server {
        listen 8080;
        location =/a { push_channel_group a; }
        location ~^/b$ { push_channel_group b; }
        location ~*^/C$ { push_channel_group c; }
    } })");
    ASSERT_TRUE(result) << result.error.describe();
    const Server& server = result.config->servers[0];
    std::vector<std::string> captures;
    EXPECT_EQ(server.locations[0].match, Location::Match::Exact);
    EXPECT_EQ(server.locations[0].pattern, "/a");
    EXPECT_EQ(match_location(server, "/a", captures).push.channel_group, "a");
    EXPECT_EQ(match_location(server, "/b", captures).push.channel_group, "b");
    EXPECT_EQ(match_location(server, "/c", captures).push.channel_group, "c");
}

// describe() writes each location as the conf did, modifiers separated (glued ones too).
TEST_F(MatchLocation, DescribeWritesTheLocationAsInTheConf) {
    std::vector<std::string> described;
    for (const Location& location : config->servers.at(0).locations) {
        described.push_back(location.describe());
    }
    EXPECT_EQ(described, (std::vector<std::string>{"= /exact", "/", "/pub", "/pub/long",
                                                   "^~ /static", "~ ^/pub/(\\w+)/(\\d+)$",
                                                   "~* \\.JSON$", "~ ^/static/x$", "~ /exact"}));
    EXPECT_EQ(config->servers.at(0).fallback.describe(), "");
}

TEST(MatchLocationFallback, LocationRecordsWhereItIs) {
    LoadResult result = load("http {\nserver {\nlisten 80;\nlocation /a { }\n}\n}");
    ASSERT_TRUE(result);
    const Server& server = result.config->servers[0];
    EXPECT_EQ(server.locations[0].line, 4);
    EXPECT_EQ(server.fallback.line, 2);
    EXPECT_EQ(server.line, 2);
}

}  // namespace
}  // namespace pushrelay::conf
