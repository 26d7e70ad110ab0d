// The limit directives: what a load makes of them (zones, rules, inheritance) and the error, at
// file:line, for every malformed one.
#include <gtest/gtest.h>

#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using testing::load;
using testing::load_error;
using testing::loaded_location;
using testing::one_location;

constexpr const char* kZones =
    "limit_conn_zone $binary_remote_addr zone=c:1m;\n"
    "limit_req_zone $remote_addr zone=r:64k rate=30r/m;\n";

TEST(LimitConf, ZonesAndRules) {
    LoadResult result =
        load(one_location("limit_conn c 3; limit_req zone=r burst=5 delay=2;", kZones));
    ASSERT_TRUE(result) << result.error.describe();
    const Config& config = *result.config;
    ASSERT_EQ(config.limit_zones.size(), 2u);
    EXPECT_EQ(config.limit_zones[0].kind, LimitZone::Kind::Conn);
    EXPECT_EQ(config.limit_zones[0].size, 1024u * 1024);
    EXPECT_EQ(config.limit_zones[1].rate, 500u);  // 30r/m in milli-requests per second
    const LimitSettings& limits = config.servers[0].locations[0].http.limits;
    ASSERT_EQ(limits.conn.size(), 1u);
    EXPECT_EQ(limits.conn[0].limit, 3u);
    EXPECT_EQ(limits.conn[0].origin.zone, 0u);
    ASSERT_EQ(limits.req.size(), 1u);
    EXPECT_EQ(limits.req[0].origin.zone, 1u);
    EXPECT_EQ(limits.req[0].burst, 5000u);
    EXPECT_EQ(limits.req[0].delay, 2000u);
    EXPECT_EQ(limits.req_status, 503);
    EXPECT_EQ(limits.conn_log_level, LogLevel::Error);
}

TEST(LimitConf, NodelayDelaysNothingWithinTheBurst) {
    Location loc = loaded_location("limit_req zone=r burst=4 nodelay;", kZones);
    EXPECT_EQ(loc.http.limits.req.at(0).delay, 4000u);
}

// nginx: a level with its own limit_conn (limit_req) does not inherit its parent's.
TEST(LimitConf, ALevelWithItsOwnRulesReplacesItsParents) {
    std::string http = std::string(kZones) + "limit_conn c 1; limit_req zone=r;\n";
    Location inherits = loaded_location("", http);
    EXPECT_EQ(inherits.http.limits.conn.size(), 1u);
    EXPECT_EQ(inherits.http.limits.req.size(), 1u);
    std::string zones2 = http + "limit_conn_zone $uri zone=c2:64k;\n";
    Location own = loaded_location("limit_conn c2 7;", zones2);
    ASSERT_EQ(own.http.limits.conn.size(), 1u);
    EXPECT_EQ(own.http.limits.conn[0].limit, 7u);
    EXPECT_EQ(own.http.limits.req.size(), 1u);  // limit_req still inherited
}

// As in nginx, a rule may come before the zone it names.
TEST(LimitConf, ARuleMayPrecedeItsZone) {
    EXPECT_EQ(load_error("http { limit_conn c 1; limit_conn_zone $uri zone=c:64k;\n"
                         "server { listen 127.0.0.1:8080; } }"),
              "loaded");
}

TEST(LimitConf, ErrorsNameFileAndLine) {
    auto error = [](std::string_view body, std::string_view http = kZones) {
        return load_error(one_location(body, http));
    };
    const std::string at = std::string(testing::kConfName) + ":";
    // http { (1), zones (2, 3), a blank line (4), server (5), listen (6), location (7), body (8)
    EXPECT_EQ(error("limit_conn nope 1;"), at + "8: unknown limit_conn_zone \"nope\"");
    EXPECT_EQ(error("limit_req zone=c;"), at + "8: zone \"c\" is a limit_conn_zone (" +
                                              testing::kConfName + ":2), not a limit_req_zone");
    EXPECT_EQ(error("limit_conn c 0;"),
              at + "8: invalid number \"0\" in \"limit_conn\" directive, it must be at least 1");
    EXPECT_EQ(error("limit_conn c;"),
              at + "8: invalid number of arguments in \"limit_conn\" directive");
    EXPECT_EQ(error("limit_conn c 1; limit_conn c 2;"),
              at + "8: \"limit_conn\" for zone \"c\" is duplicate (first at " + testing::kConfName +
                  ":8)");
    EXPECT_EQ(error("limit_req burst=3;"), at + "8: \"limit_req\" directive needs zone=name");
    EXPECT_EQ(error("limit_req zone=r burst=x;"),
              at + "8: invalid burst \"burst=x\" in \"limit_req\" directive (expected a whole "
                   "number of requests, as in burst=5)");
    EXPECT_EQ(error("limit_req zone=r nodelay delay=1;"),
              at + "8: \"nodelay\" and \"delay=\" cannot be used together in \"limit_req\" "
                   "directive");
    EXPECT_EQ(error("limit_req zone=r fast;"),
              at + "8: invalid parameter \"fast\" in \"limit_req\" directive, it must be "
                   "zone=, burst=, delay= or nodelay");
    EXPECT_EQ(error("limit_req_status 302;"),
              at + "8: invalid number \"302\" in \"limit_req_status\" directive, it must be at "
                   "least 400");
    EXPECT_EQ(error("limit_conn_status 600;"),
              at + "8: invalid status \"600\" in \"limit_conn_status\" directive, it must be "
                   "from 400 to 599");
    EXPECT_EQ(error("limit_req_log_level crit;"),
              at + "8: invalid value \"crit\" in \"limit_req_log_level\" directive, it must be "
                   "\"info\", \"notice\", \"warn\" or \"error\"");
    EXPECT_EQ(error("limit_conn_zone $uri zone=x:1m;"),
              at + "8: \"limit_conn_zone\" directive is not allowed here");
}

TEST(LimitConf, ZoneErrors) {
    auto error = [](std::string_view zone) { return load_error(one_location("", zone)); };
    const std::string at = std::string(testing::kConfName) + ":2: ";
    EXPECT_EQ(error("limit_conn_zone $uri addr:1m;"),
              at + "invalid parameter \"addr:1m\" in \"limit_conn_zone\" directive, it must "
                   "be zone=name:size as in zone=addr:10m");
    EXPECT_EQ(error("limit_conn_zone $uri zone=addr;"),
              at + "invalid parameter \"zone=addr\" in \"limit_conn_zone\" directive, it must "
                   "be zone=name:size as in zone=addr:10m");
    EXPECT_EQ(error("limit_conn_zone $uri zone=addr:lots;"),
              at + "invalid zone size \"zone=addr:lots\" in \"limit_conn_zone\" directive "
                   "(expected bytes with an optional k or m suffix, as in 10m)");
    EXPECT_EQ(error("limit_conn_zone $uri zone=addr:16k;"),
              at + "zone \"addr\" is too small in \"limit_conn_zone\" directive, it must be at "
                   "least 32k");
    EXPECT_EQ(error("limit_conn_zone ${addr zone=addr:1m;"),
              at + "the closing bracket in \"${addr\" variable is missing in "
                   "\"limit_conn_zone\" directive");
    EXPECT_EQ(error("limit_req_zone $uri zone=r:1m;"),
              at + "invalid number of arguments in \"limit_req_zone\" directive");
    EXPECT_EQ(error("limit_req_zone $uri zone=r:1m rate=10r/h;"),
              at + "invalid rate \"rate=10r/h\" in \"limit_req_zone\" directive (expected a "
                   "number of requests per second or minute, as in rate=10r/s or rate=30r/m)");
    EXPECT_EQ(error("limit_req_zone $uri zone=r:1m rate=0r/s;"),
              at + "invalid rate \"rate=0r/s\" in \"limit_req_zone\" directive (expected a "
                   "number of requests per second or minute, as in rate=10r/s or rate=30r/m)");
    EXPECT_EQ(error("limit_req_zone $uri zone=r:1m size=1;"),
              at + "invalid parameter \"size=1\" in \"limit_req_zone\" directive, it must be "
                   "zone= or rate=");
    EXPECT_EQ(error("limit_req_zone $uri rate=1r/s rate=2r/s;"),
              at + "\"limit_req_zone\" directive needs both zone=name:size and rate=");
    EXPECT_EQ(error("limit_conn_zone $uri zone=a:1m;\nlimit_req_zone $uri zone=a:1m rate=1r/s;"),
              std::string(testing::kConfName) + ":3: duplicate zone \"a\" (first at " +
                  testing::kConfName + ":2)");
}

}  // namespace
}  // namespace pushrelay::conf
