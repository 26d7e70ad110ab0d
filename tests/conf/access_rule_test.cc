#include "conf/access_rule.h"

#include <gtest/gtest.h>
#include <sys/un.h>

#include "conf/conf.h"
#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using testing::as_sockaddr;
using testing::ipv4_peer;
using testing::ipv6_peer;

bool rule_matches(std::string_view rule, const sockaddr_storage& peer) {
    std::optional<AccessRule> parsed = parse_access_rule(true, rule);
    EXPECT_TRUE(parsed) << rule;
    return parsed && parsed->matches(as_sockaddr(peer));
}

TEST(AccessRule, All) {
    EXPECT_TRUE(rule_matches("all", ipv4_peer("1.2.3.4")));
    EXPECT_TRUE(rule_matches("all", ipv6_peer("2001:db8::1")));
    sockaddr_storage unix_peer{};
    unix_peer.ss_family = AF_UNIX;
    EXPECT_TRUE(rule_matches("all", unix_peer));
    EXPECT_FALSE(rule_matches("127.0.0.1", unix_peer));
}

TEST(AccessRule, SingleIpv4Address) {
    EXPECT_TRUE(rule_matches("127.0.0.1", ipv4_peer("127.0.0.1")));
    EXPECT_FALSE(rule_matches("127.0.0.1", ipv4_peer("127.0.0.2")));
}

TEST(AccessRule, Ipv4Cidr) {
    EXPECT_TRUE(rule_matches("10.0.0.0/8", ipv4_peer("10.255.1.2")));
    EXPECT_FALSE(rule_matches("10.0.0.0/8", ipv4_peer("11.0.0.1")));
    EXPECT_TRUE(rule_matches("192.168.1.128/25", ipv4_peer("192.168.1.200")));
    EXPECT_FALSE(rule_matches("192.168.1.128/25", ipv4_peer("192.168.1.100")));
    EXPECT_TRUE(rule_matches("0.0.0.0/0", ipv4_peer("8.8.8.8")));
}

TEST(AccessRule, HostBitsAreCleared) {
    auto rule = parse_access_rule(false, "10.1.2.3/8");
    ASSERT_TRUE(rule);
    EXPECT_FALSE(rule->allow);
    EXPECT_EQ(rule->prefix_len, 8u);
    EXPECT_EQ(rule->address[0], 10);
    EXPECT_EQ(rule->address[1], 0);
    EXPECT_TRUE(rule->matches(as_sockaddr(ipv4_peer("10.9.9.9"))));
}

TEST(AccessRule, Ipv6AndCidr) {
    EXPECT_TRUE(rule_matches("::1", ipv6_peer("::1")));
    EXPECT_TRUE(rule_matches("::1/128", ipv6_peer("::1")));
    EXPECT_FALSE(rule_matches("::1/128", ipv6_peer("::2")));
    EXPECT_TRUE(rule_matches("2001:db8::/32", ipv6_peer("2001:db8:ffff::1")));
    EXPECT_FALSE(rule_matches("2001:db8::/32", ipv6_peer("2001:db9::1")));
}

TEST(AccessRule, FamiliesDoNotMix) {
    EXPECT_FALSE(rule_matches("::1", ipv4_peer("127.0.0.1")));
    EXPECT_FALSE(rule_matches("0.0.0.0/0", ipv6_peer("2001:db8::1")));
}

TEST(AccessRule, Ipv4MappedPeerMatchesIpv4Rule) {
    EXPECT_TRUE(rule_matches("127.0.0.0/8", ipv6_peer("::ffff:127.0.0.1")));
    EXPECT_FALSE(rule_matches("10.0.0.0/8", ipv6_peer("::ffff:127.0.0.1")));
}

TEST(AccessRule, RejectsBadCidr) {
    for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "300.0.0.1",
                            "localhost", "10.0.0.0/8/8", "unix:"}) {
        EXPECT_FALSE(parse_access_rule(true, bad)) << bad;
    }
}

TEST(HttpSettingsAllowed, FirstMatchWinsAndNoMatchAllows) {
    HttpSettings http;
    EXPECT_TRUE(http.allowed(as_sockaddr(ipv4_peer("1.2.3.4"))));  // no rules
    http.access = {*parse_access_rule(true, "127.0.0.1"), *parse_access_rule(false, "127.0.0.0/8")};
    EXPECT_TRUE(http.allowed(as_sockaddr(ipv4_peer("127.0.0.1"))));
    EXPECT_FALSE(http.allowed(as_sockaddr(ipv4_peer("127.0.0.2"))));
    EXPECT_TRUE(http.allowed(as_sockaddr(ipv4_peer("8.8.8.8"))));
    http.access.push_back(*parse_access_rule(false, "all"));
    EXPECT_FALSE(http.allowed(as_sockaddr(ipv4_peer("8.8.8.8"))));
}

}  // namespace
}  // namespace pushrelay::conf
