#include "redis/keys.h"

#include <gtest/gtest.h>

namespace pushrelay::redis {
namespace {

TEST(Keys, EscapingLeavesNoBraceAndIsBijective) {
    EXPECT_EQ(escape_channel_key("/news"), "/news");
    EXPECT_EQ(escape_channel_key("g/{a}%b"), "g/%7Ba%7D%25b");
    // "%7B" itself must not read back as a brace: the '%' is escaped first.
    EXPECT_NE(escape_channel_key("/%7B"), escape_channel_key("/{"));
}

TEST(Keys, EveryKeyOfAChannelSharesOneHashTag) {
    const ChannelKeys k = channel_keys("pr", "g/{x}");
    EXPECT_EQ(k.channel, "pr:{g/%7Bx%7D}:c");
    EXPECT_EQ(k.messages, "pr:{g/%7Bx%7D}:m");
    EXPECT_EQ(k.pubsub, "pr:{g/%7Bx%7D}");
    for (const std::string* name :
         {&k.channel, &k.messages, &k.receipts, &k.idempotency, &k.tombstone, &k.pubsub})
        EXPECT_EQ(cluster_slot(*name), cluster_slot(k.pubsub)) << *name;
    EXPECT_EQ(run_key("pr"), "pr:run");
}

TEST(Keys, ClusterSlotsAreRedisOwn) {
    // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    EXPECT_EQ(cluster_slot("123456789"), 12739u);
    EXPECT_EQ(cluster_slot("foo"), 12182u);
    EXPECT_EQ(cluster_slot("{user1000}.following"), cluster_slot("user1000"));
    EXPECT_EQ(cluster_slot("foo{}{bar}"), cluster_slot("foo{}{bar}"));
    EXPECT_NE(cluster_slot("foo{}{bar}"), cluster_slot("bar"));  // an empty tag: the whole key
}

}  // namespace
}  // namespace pushrelay::redis
