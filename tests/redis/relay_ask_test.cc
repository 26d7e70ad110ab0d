// redis/relay_ask.h: a worker's ask to its relay, as the datagram carries it.
#include "redis/relay_ask.h"

#include <gtest/gtest.h>

namespace pushrelay::redis {
namespace {

TEST(RelayAsk, RoundTripsEveryField) {
    const RelayAsk ask{std::string("grp/ch\0an\xff", 10), false, 123456789012};
    const std::optional<RelayAsk> back = decode_ask(encode_ask(ask));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->key, ask.key);
    EXPECT_FALSE(back->may_create);
    EXPECT_EQ(back->channel_timeout_ms, 123456789012);
}

TEST(RelayAsk, RefusesTruncatedForeignAndKeylessDatagrams) {
    const std::string good = encode_ask({"k", true, 5000});
    EXPECT_FALSE(decode_ask(good.substr(0, good.size() - 1)));  // no key left
    EXPECT_FALSE(decode_ask(""));
    std::string other = good;
    other[0] = 2;  // another version
    EXPECT_FALSE(decode_ask(other));
}

TEST(RelayGone, IsNeitherAnAskNorTakenForOne) {
    const std::string gone = encode_relay_gone();
    EXPECT_TRUE(is_relay_gone(gone));
    EXPECT_FALSE(decode_ask(gone));
    EXPECT_FALSE(is_relay_gone(encode_ask({"k", true, 5000})));
    EXPECT_FALSE(is_relay_gone(""));
}

}  // namespace
}  // namespace pushrelay::redis
