#include "tests/redis/redis_server.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

namespace pushrelay::redis::testing {
namespace {

// The fixture itself: a real server answers, and is gone once stopped.
TEST(RedisServer, StartsAnswersAndStops) {
    RedisServer server;
    redisContext* c = redisConnect("127.0.0.1", server.port());
    ASSERT_TRUE(c && !c->err);
    auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
    ASSERT_TRUE(reply);
    EXPECT_EQ(std::string(reply->str, reply->len), "PONG");
    freeReplyObject(reply);
    redisFree(c);
    server.stop();
    c = redisConnect("127.0.0.1", server.port());
    EXPECT_TRUE(c->err);
    redisFree(c);
}

}  // namespace
}  // namespace pushrelay::redis::testing
