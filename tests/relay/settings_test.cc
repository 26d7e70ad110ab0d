// relay/settings.h: what every process of a node connects to Redis with, from the conf.
#include "relay/settings.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "redis/scripts.h"

namespace pushrelay::relay {
namespace {

conf::RedisSettings settings_for(std::string address, std::uint16_t port) {
    conf::RedisSettings conf;
    conf::RedisUrl url;
    url.host = address;
    url.port = port;
    url.addresses = {address};
    url.user = "pushrelay";
    url.password = "s3cret";
    url.db = 3;
    conf.urls.push_back(url);
    conf.connect_timeout = std::chrono::milliseconds(1500);
    conf.command_timeout = std::chrono::milliseconds(250);
    return conf;
}

TEST(ConnectionSettings, AnIpv4UrlBecomesItsAddressCredentialsDbAndTimeouts) {
    const redis::Settings s = connection_settings(settings_for("10.0.0.5", 6380), "relay");
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&s.address);
    ASSERT_EQ(v4->sin_family, AF_INET);
    EXPECT_EQ(ntohs(v4->sin_port), 6380);
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    EXPECT_STREQ(text, "10.0.0.5");
    EXPECT_EQ(s.user, "pushrelay");
    EXPECT_EQ(s.password, "s3cret");
    EXPECT_EQ(s.db, 3);
    EXPECT_DOUBLE_EQ(s.connect_timeout, 1.5);
    EXPECT_DOUBLE_EQ(s.command_timeout, 0.25);
    EXPECT_NE(s.client_name.find(":relay"), std::string::npos) << s.client_name;
}

TEST(ConnectionSettings, AnIpv6UrlKeepsItsFamily) {
    const redis::Settings s = connection_settings(settings_for("::1", 6379), "worker");
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&s.address);
    ASSERT_EQ(v6->sin6_family, AF_INET6);
    EXPECT_EQ(ntohs(v6->sin6_port), 6379);
    EXPECT_EQ(v6->sin6_addr.s6_addr[15], 1);
}

// The connections run scripts by their Script value as an index: the order must match.
TEST(ConnectionSettings, ScriptsAreLoadedInScriptOrder) {
    const redis::Settings s = connection_settings(settings_for("127.0.0.1", 6379), "worker");
    const redis::Script all[] = {
        redis::Script::Publish, redis::Script::Fetch, redis::Script::Delete, redis::Script::Info,
        redis::Script::Count,   redis::Script::Kick,  redis::Script::Receipt};
    ASSERT_EQ(s.scripts.size(), std::size(all));
    for (redis::Script script : all)
        EXPECT_EQ(s.scripts[static_cast<std::size_t>(script)], redis::script_source(script))
            << redis::script_name(script);
}

}  // namespace
}  // namespace pushrelay::relay
