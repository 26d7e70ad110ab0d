#include "master/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pushrelay::master {
namespace {

std::variant<Options, std::string> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "pushrelay");
    return parse_options(static_cast<int>(args.size()), args.data());
}

TEST(Options, DefaultsWhenNoArguments) {
    auto parsed = parse({});
    ASSERT_TRUE(std::holds_alternative<Options>(parsed));
    const Options& o = std::get<Options>(parsed);
    EXPECT_EQ(o.conf_path, kDefaultConf);
    EXPECT_EQ(o.prefix, kDefaultPrefix);
    EXPECT_FALSE(o.test_only);
}

// The rule of cmake/conf_dir.cmake, which also places the conf at install time.
TEST(Options, DefaultConfFollowsTheInstallPrefix) {
    std::string prefix = kInstallPrefix;
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.pop_back();
    }
    std::string dir = prefix == "/usr" ? "/etc/pushrelay" : prefix + "/etc/pushrelay";
    EXPECT_EQ(std::string(kDefaultConf), dir + "/pushrelay.conf");
}

TEST(Options, UsageShowsTheDefaults) {
    EXPECT_NE(usage().find(std::string("(default: ") + kDefaultConf + ")"), std::string::npos);
    EXPECT_NE(usage().find(std::string("(default: ") + kDefaultPrefix + ")"), std::string::npos);
}

TEST(Options, ValuesSeparateOrAttached) {
    auto parsed = parse({"-c", "a.conf", "-pprefix", "-g", "daemon off;", "-t"});
    ASSERT_TRUE(std::holds_alternative<Options>(parsed));
    const Options& o = std::get<Options>(parsed);
    EXPECT_EQ(o.conf_path, "a.conf");
    EXPECT_EQ(o.prefix, "prefix/");
    EXPECT_EQ(o.directives, "daemon off;");
    EXPECT_TRUE(o.test_only);
}

TEST(Options, SignalNamesAreChecked) {
    EXPECT_EQ(std::get<Options>(parse({"-s", "reload"})).signal, "reload");
    EXPECT_EQ(std::get<Options>(parse({"-s", "upgrade"})).signal, "upgrade");
    auto bad = parse({"-s", "explode"});
    ASSERT_TRUE(std::holds_alternative<std::string>(bad));
    EXPECT_NE(std::get<std::string>(bad).find("explode"), std::string::npos);
}

TEST(Options, MissingValueAndUnknownFlagAreErrors) {
    auto missing = parse({"-c"});
    ASSERT_TRUE(std::holds_alternative<std::string>(missing));
    EXPECT_NE(std::get<std::string>(missing).find("requires file name"), std::string::npos);
    EXPECT_TRUE(std::holds_alternative<std::string>(parse({"-x"})));
    EXPECT_TRUE(std::holds_alternative<std::string>(parse({"stray"})));
}

TEST(Options, RelativeConfResolvesAgainstPrefix) {
    Options o;
    o.prefix = "/srv/pr/";
    o.conf_path = "conf/p.conf";
    resolve_paths(o);
    EXPECT_EQ(o.conf_path, "/srv/pr/conf/p.conf");
    o.conf_path = "/etc/p.conf";
    resolve_paths(o);
    EXPECT_EQ(o.conf_path, "/etc/p.conf");
}

TEST(Options, BuildInfoListsEveryTransportOnceWithGripAndRedis) {
    std::string info = build_info();
    EXPECT_NE(info.find("built with: transports long-poll interval-poll eventsource chunked "
                        "multipart-mixed websocket; grip; redis (hiredis " PUSHRELAY_HIREDIS_VERSION
                        ")\n"),
              std::string::npos)
        << info;
    EXPECT_NE(info.find(std::string("install prefix: ") + kInstallPrefix + "\n"),
              std::string::npos);
}

}  // namespace
}  // namespace pushrelay::master
