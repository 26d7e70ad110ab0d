// The push_redis_* directives (shared/scale-out.md "Conf"): every accepted form, what it puts
// in Config::redis, and every error with its file:line and text.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "conf/conf.h"
#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using namespace std::chrono_literals;
using testing::kConfName;
using testing::load;
using testing::load_error;

// An http block holding `lines`, which start on line 2.
std::string in_http(std::string_view lines) {
    return "http {\n" + std::string(lines) + "\n}\n";
}

RedisSettings loaded_redis(std::string_view lines) {
    LoadResult result = load(in_http(lines));
    if (!result) {
        ADD_FAILURE() << result.error.describe();
        return RedisSettings{};
    }
    return result.config->redis;
}

// The one URL of a conf with a single push_redis_url.
RedisUrl loaded_url(std::string_view url) {
    RedisSettings redis = loaded_redis("push_redis_url " + std::string(url) + ";");
    if (redis.urls.size() != 1) {
        ADD_FAILURE() << url << " gave " << redis.urls.size() << " URLs";
        return RedisUrl{};
    }
    return redis.urls.front();
}

std::string at(int line, const std::string& message) {
    return std::string(kConfName) + ":" + std::to_string(line) + ": " + message;
}

// The error of `push_redis_url URL;` on line 2.
std::string url_error(std::string_view url) {
    return load_error(in_http("push_redis_url " + std::string(url) + ";"));
}

std::string invalid_url(std::string_view shown, std::string_view hint) {
    return at(2, "invalid URL \"" + std::string(shown) + "\" in \"push_redis_url\" directive" +
                     std::string(hint));
}

TEST(RedisConf, AbsentMeansOffWithTheTableDefaults) {
    RedisSettings redis = loaded_redis("");
    EXPECT_FALSE(redis.enabled());
    EXPECT_EQ(redis, RedisSettings{});  // the struct's initializers are the table's defaults
    EXPECT_EQ(redis.ns, "pushrelay");
    EXPECT_EQ(redis.mode, RedisStorageMode::Distributed);
    EXPECT_EQ(redis.connect_timeout, 2s);
    EXPECT_EQ(redis.command_timeout, 2s);
}

TEST(RedisConf, HostPortAndDb) {
    RedisUrl url = loaded_url("redis://127.0.0.1:6380/3");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.port, 6380);
    EXPECT_EQ(url.db, 3u);
    EXPECT_EQ(url.addresses, std::vector<std::string>{"127.0.0.1"});
    EXPECT_EQ(url.user, "");
    EXPECT_EQ(url.password, "");
    EXPECT_EQ(url.file, kConfName);
    EXPECT_EQ(url.line, 2);
}

TEST(RedisConf, PortAndDbHaveDefaults) {
    RedisUrl bare = loaded_url("redis://127.0.0.1");
    EXPECT_EQ(bare.port, 6379);
    EXPECT_EQ(bare.db, 0u);
    RedisUrl slash = loaded_url("redis://127.0.0.1:7000/");
    EXPECT_EQ(slash.port, 7000);
    EXPECT_EQ(slash.db, 0u);
}

TEST(RedisConf, UserAndPassword) {
    RedisUrl url = loaded_url("redis://pushrelay:s3cret@10.0.0.5:6379/0");
    EXPECT_EQ(url.user, "pushrelay");
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_EQ(url.host, "10.0.0.5");
    EXPECT_EQ(url.addresses, std::vector<std::string>{"10.0.0.5"});
}

TEST(RedisConf, PasswordAloneIsTheDefaultUser) {
    RedisUrl url = loaded_url("redis://:s3cret@127.0.0.1:6379");
    EXPECT_EQ(url.user, "");
    EXPECT_EQ(url.password, "s3cret");
}

TEST(RedisConf, UserAndPasswordArePercentDecoded) {
    RedisUrl url = loaded_url("redis://us%3Aer:p%40ss%25w%2fd@127.0.0.1:6379");
    EXPECT_EQ(url.user, "us:er");
    EXPECT_EQ(url.password, "p@ss%w/d");
}

// The user info ends at the last '@', so a password may hold '@' and '/' as they are.
TEST(RedisConf, PasswordMayHoldAtAndSlashUnescaped) {
    RedisUrl url = loaded_url("redis://u:a@b/c:d@127.0.0.1:6379/2");
    EXPECT_EQ(url.user, "u");
    EXPECT_EQ(url.password, "a@b/c:d");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.db, 2u);
}

TEST(RedisConf, Ipv6InBrackets) {
    RedisUrl url = loaded_url("redis://[::1]:6390/1");
    EXPECT_EQ(url.host, "::1");
    EXPECT_EQ(url.port, 6390);
    EXPECT_EQ(url.db, 1u);
    EXPECT_EQ(url.addresses, std::vector<std::string>{"::1"});
    EXPECT_EQ(loaded_url("redis://[::1]").port, 6379);
}

TEST(RedisConf, NameIsResolvedAtLoad) {
    RedisUrl url = loaded_url("redis://localhost:6379");
    EXPECT_EQ(url.host, "localhost");
    EXPECT_NE(std::find(url.addresses.begin(), url.addresses.end(), "127.0.0.1"),
              url.addresses.end())
        << "localhost should resolve to 127.0.0.1";
    std::vector<std::string> unique = url.addresses;
    std::sort(unique.begin(), unique.end());
    EXPECT_EQ(std::adjacent_find(unique.begin(), unique.end()), unique.end()) << "duplicates";
}

TEST(RedisConf, RepeatedUrlIsAClusterSeedListInConfOrder) {
    RedisSettings redis = loaded_redis(
        "push_redis_url redis://u:p@127.0.0.1:7000;\n"
        "push_redis_url redis://u:p@127.0.0.1:7001/0;\n"
        "push_redis_url redis://u:p@[::1]:7002/;");
    ASSERT_EQ(redis.urls.size(), 3u);
    EXPECT_TRUE(redis.enabled());
    EXPECT_EQ(redis.urls[0].port, 7000);
    EXPECT_EQ(redis.urls[1].port, 7001);
    EXPECT_EQ(redis.urls[2].host, "::1");
    EXPECT_EQ(redis.urls[2].line, 4);
}

TEST(RedisConf, EveryOtherDirective) {
    RedisSettings redis = loaded_redis(
        "push_redis_url redis://127.0.0.1:6379;\n"
        "push_redis_namespace app:prod;\n"
        "push_redis_storage_mode nostore;\n"
        "push_redis_connect_timeout 500ms;\n"
        "push_redis_command_timeout 1m;");
    EXPECT_EQ(redis.ns, "app:prod");
    EXPECT_EQ(redis.mode, RedisStorageMode::Nostore);
    EXPECT_EQ(redis.connect_timeout, 500ms);
    EXPECT_EQ(redis.command_timeout, 1min);
    EXPECT_EQ(loaded_redis("push_redis_storage_mode distributed;").mode,
              RedisStorageMode::Distributed);
}

// What logs and status print: never the password.
TEST(RedisConf, DescribeHidesThePassword) {
    RedisUrl url = loaded_url("redis://pushrelay:s3cret@10.0.0.5:6379/0");
    EXPECT_EQ(url.describe(), "redis://pushrelay:***@10.0.0.5:6379/0");
    EXPECT_EQ(loaded_url("redis://:s3cret@127.0.0.1").describe(), "redis://:***@127.0.0.1:6379/0");
    EXPECT_EQ(loaded_url("redis://127.0.0.1").describe(), "redis://127.0.0.1:6379/0");
    EXPECT_EQ(loaded_url("redis://[::1]:7000/2").describe(), "redis://[::1]:7000/2");
    // A user reads back as written: reserved characters escaped again.
    EXPECT_EQ(loaded_url("redis://us%3Aer@x:pw@127.0.0.1").describe(),
              "redis://us%3Aer%40x:***@127.0.0.1:6379/0");
}

// dist/pushrelay.conf shows the Redis directives commented out; uncommented, they must load.
TEST(RedisConf, DistExampleLoadsUncommented) {
    std::ifstream dist(std::string(PUSHRELAY_SOURCE_DIR) + "/dist/pushrelay.conf");
    ASSERT_TRUE(dist) << "cannot read dist/pushrelay.conf";
    std::string lines;
    for (std::string line; std::getline(dist, line);) {
        size_t start = line.find("# push_redis_");
        if (start != std::string::npos) {
            lines += line.substr(start + 2) + "\n";
        }
    }
    ASSERT_NE(lines.find("push_redis_url"), std::string::npos) << lines;
    RedisSettings redis = loaded_redis(lines);
    EXPECT_TRUE(redis.enabled());
}

TEST(RedisConfErrors, HttpContextOnly) {
    EXPECT_EQ(load_error("push_redis_url redis://127.0.0.1;"),
              at(1, "\"push_redis_url\" directive is not allowed here"));
    EXPECT_EQ(load_error(in_http("server { listen 127.0.0.1:8080; push_redis_namespace x; }")),
              at(2, "\"push_redis_namespace\" directive is not allowed here"));
    EXPECT_EQ(load_error(testing::one_location("push_redis_command_timeout 1s;")),
              at(6, "\"push_redis_command_timeout\" directive is not allowed here"));
}

TEST(RedisConfErrors, SchemeOtherThanRedis) {
    const char* hint = ", it must be redis://[user:pass@]host:port[/db]";
    EXPECT_EQ(url_error("http://127.0.0.1:6379"), invalid_url("http://127.0.0.1:6379", hint));
    EXPECT_EQ(url_error("127.0.0.1:6379"), invalid_url("127.0.0.1:6379", hint));
    EXPECT_EQ(url_error("unix:///run/redis.sock"), invalid_url("unix:///run/redis.sock", hint));
}

TEST(RedisConfErrors, TlsNeedsANewerHiredis) {
    EXPECT_EQ(url_error("rediss://u:s3cret@127.0.0.1:6379"),
              invalid_url("rediss://u:***@127.0.0.1:6379",
                          ": TLS needs hiredis \u2265 1.0: use a private network or stunnel"));
}

TEST(RedisConfErrors, MalformedUserInfoNeverShowsThePassword) {
    EXPECT_EQ(
        url_error("redis://s3cret@127.0.0.1"),
        invalid_url("redis://***@127.0.0.1", ": expected user:pass@ or :pass@ before the host"));
    EXPECT_EQ(url_error("redis://u%zz:s3cret@127.0.0.1"),
              invalid_url("redis://u%zz:***@127.0.0.1",
                          ": malformed %-escape in the user (write % as %25)"));
    EXPECT_EQ(url_error("redis://u:s3cret%4@127.0.0.1"),
              invalid_url("redis://u:***@127.0.0.1",
                          ": malformed %-escape in the password (write % as %25)"));
    EXPECT_EQ(url_error("redis://u:@127.0.0.1"),
              invalid_url("redis://u:***@127.0.0.1",
                          ": the password is empty (leave out user:pass@ for no AUTH)"));
}

TEST(RedisConfErrors, MalformedHost) {
    EXPECT_EQ(url_error("redis://"), invalid_url("redis://", ": the host is missing"));
    EXPECT_EQ(url_error("redis://:6379/0"),
              invalid_url("redis://:6379/0", ": the host is missing"));
    EXPECT_EQ(url_error("redis://[::1:6379"),
              invalid_url("redis://[::1:6379", ": unterminated [IPv6 address]"));
    EXPECT_EQ(url_error("redis://[::1]6379"),
              invalid_url("redis://[::1]6379", ": expected :port after ]"));
    EXPECT_EQ(url_error("redis://[localhost]:6379"),
              invalid_url("redis://[localhost]:6379",
                          ": \"localhost\" in brackets is not an IPv6 address"));
    EXPECT_EQ(
        url_error("redis://::1:6379"),
        invalid_url("redis://::1:6379", ": an IPv6 address goes in brackets, as in [::1]:6379"));
}

TEST(RedisConfErrors, MalformedPort) {
    const char* hint = ": the port must be a number from 1 to 65535";
    for (const char* url : {"redis://127.0.0.1:0", "redis://127.0.0.1:65536",
                            "redis://127.0.0.1:http", "redis://127.0.0.1:", "redis://[::1]:"}) {
        EXPECT_EQ(url_error(url), invalid_url(url, hint));
    }
}

TEST(RedisConfErrors, MalformedDbOrQuery) {
    const char* hint = ": the path must be /db, a database number such as /0";
    EXPECT_EQ(url_error("redis://127.0.0.1:6379/x"), invalid_url("redis://127.0.0.1:6379/x", hint));
    EXPECT_EQ(url_error("redis://127.0.0.1:6379/0/1"),
              invalid_url("redis://127.0.0.1:6379/0/1", hint));
    EXPECT_EQ(url_error("redis://127.0.0.1:6379/-1"),
              invalid_url("redis://127.0.0.1:6379/-1", hint));
    EXPECT_EQ(url_error("redis://127.0.0.1:6379?db=1"),
              invalid_url("redis://127.0.0.1:6379?db=1", ": query parameters are not supported"));
}

TEST(RedisConfErrors, UnresolvableHost) {
    // .invalid never resolves (RFC 6761); the resolver's own words follow.
    std::string err = url_error("redis://no-such-host.invalid:6379");
    std::string expected = invalid_url("redis://no-such-host.invalid:6379",
                                       ": cannot resolve \"no-such-host.invalid\": ");
    EXPECT_EQ(err.rfind(expected, 0), 0u) << err;
    EXPECT_GT(err.size(), expected.size()) << "gai_strerror's text is missing";
}

TEST(RedisConfErrors, DbOtherThanZeroInAClusterSeedList) {
    EXPECT_EQ(load_error(in_http("push_redis_url redis://127.0.0.1:7000;\n"
                                 "push_redis_url redis://127.0.0.1:7001/1;")),
              at(3, "database 1 in a Cluster seed list (\"push_redis_url\" also at " +
                        std::string(kConfName) + ":2): a Redis Cluster has database 0 only"));
    // The first seed's database shows only once there is a second: the error is at its line.
    EXPECT_EQ(load_error(in_http("push_redis_url redis://127.0.0.1:7000/2;\n"
                                 "push_redis_url redis://127.0.0.1:7001;")),
              at(2, "database 2 in a Cluster seed list (\"push_redis_url\" also at " +
                        std::string(kConfName) + ":3): a Redis Cluster has database 0 only"));
}

TEST(RedisConfErrors, ClusterSeedsShareOneUserAndPassword) {
    std::string expected =
        at(3,
           "the seeds of a Cluster take one user:pass (nodes found through CLUSTER SLOTS are "
           "reached with it), and this one differs from " +
               std::string(kConfName) + ":2");
    EXPECT_EQ(load_error(in_http("push_redis_url redis://u:p@127.0.0.1:7000;\n"
                                 "push_redis_url redis://u:q@127.0.0.1:7001;")),
              expected);
    EXPECT_EQ(load_error(in_http("push_redis_url redis://u:p@127.0.0.1:7000;\n"
                                 "push_redis_url redis://127.0.0.1:7001;")),
              expected);
}

TEST(RedisConfErrors, NamespaceWithBracesOrEmpty) {
    const char* braces =
        ": \"{\" and \"}\" are not allowed (a channel's keys carry its own hash tag, which keeps "
        "them in one Cluster slot)";
    for (const char* ns : {"app{1}", "{app", "app}"}) {
        EXPECT_EQ(load_error(in_http("push_redis_namespace \"" + std::string(ns) + "\";")),
                  at(2, "invalid namespace \"" + std::string(ns) +
                            "\" in \"push_redis_namespace\" directive" + braces));
    }
    EXPECT_EQ(load_error(in_http("push_redis_namespace \"\";")),
              at(2, "invalid namespace \"\" in \"push_redis_namespace\" directive: it is empty"));
}

TEST(RedisConfErrors, StorageMode) {
    EXPECT_EQ(load_error(in_http("push_redis_storage_mode backup;")),
              at(2,
                 "invalid value \"backup\" in \"push_redis_storage_mode\" directive: there is "
                 "no backup mode, since the shared segment already survives worker crashes "
                 "and reloads; use \"distributed\" or \"nostore\""));
    EXPECT_EQ(load_error(in_http("push_redis_storage_mode memory;")),
              at(2,
                 "invalid value \"memory\" in \"push_redis_storage_mode\" directive, it must "
                 "be \"distributed\" or \"nostore\""));
}

TEST(RedisConfErrors, TimeoutOfZero) {
    for (const char* name : {"push_redis_connect_timeout", "push_redis_command_timeout"}) {
        for (const char* zero : {"0", "0s", "0ms"}) {
            EXPECT_EQ(load_error(in_http(std::string(name) + " " + zero + ";")),
                      at(2, "invalid time \"" + std::string(zero) + "\" in \"" + name +
                                "\" directive, it must be more than 0"));
        }
        std::string junk = load_error(in_http(std::string(name) + " soon;"));
        EXPECT_EQ(junk.rfind(at(2, "invalid time \"soon\" in \"" + std::string(name) + "\""), 0),
                  0u)
            << junk;
    }
}

TEST(RedisConfErrors, OnlyUrlRepeats) {
    EXPECT_EQ(load_error(in_http("push_redis_namespace a;\npush_redis_namespace b;")),
              at(3, "\"push_redis_namespace\" directive is duplicate"));
}

}  // namespace
}  // namespace pushrelay::conf
