// RedisBroker against a real redis-server: what a worker's publish, delete and channel info do
// through Redis, and what they answer when Redis is not there. (Delivery goes through the relay
// process: integration/test_redis_nodes.py.)
#include "broker/redis_broker.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "shm/segment.h"
#include "tests/redis/harness.h"
#include "tests/redis/redis_server.h"

namespace pushrelay::broker {
namespace {

using redis::testing::Loop;

constexpr std::uint64_t kNode = 0x1234;
constexpr double kWait = 5;

redis::Settings settings_for(int port) {
    redis::Settings settings = redis::testing::local(port, 1, 1);
    for (redis::Script script :
         {redis::Script::Publish, redis::Script::Fetch, redis::Script::Delete, redis::Script::Info,
          redis::Script::Count, redis::Script::Kick, redis::Script::Receipt})
        settings.scripts.emplace_back(redis::script_source(script));
    return settings;
}

class RedisBrokerTest : public ::testing::Test {
  protected:
    RedisBrokerTest()
        : segment(std::get<shm::Segment>(shm::Segment::create(1 << 20))),
          store(std::get<shm::Store>(shm::Store::open(segment))) {
        wake_fds.fill(-1);
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, relay_fds);
    }
    ~RedisBrokerTest() override {
        close(relay_fds[0]);
        close(relay_fds[1]);
    }

    // A worker's broker on `slot`, toward Redis on `port`.
    std::unique_ptr<RedisBroker> broker_on(int slot, int port) {
        return std::make_unique<RedisBroker>(store, slot, wake_fds, loop.get(),
                                             RedisBrokerSettings{settings_for(port),
                                                                 {settings_for(port).address},
                                                                 "t",
                                                                 redis::StorageMode::Distributed,
                                                                 kNode,
                                                                 relay_fds[1]});
    }

    PublishResult publish(RedisBroker& broker, std::string_view key, std::string_view body,
                          std::string_view idempotency_key = "") {
        std::optional<PublishResult> got;
        broker.publish_then({key, "text/plain", "", body, {}, idempotency_key},
                            [&](PublishResult&& r) { got = std::move(r); });
        EXPECT_TRUE(loop.run_until([&] { return got.has_value(); }, kWait));
        return got.value_or(PublishResult{});
    }

    InfoResult info(RedisBroker& broker, std::string_view key) {
        std::optional<InfoResult> got;
        broker.info_then(key, [&](InfoResult&& r) { got = std::move(r); });
        EXPECT_TRUE(loop.run_until([&] { return got.has_value(); }, kWait));
        return got.value_or(InfoResult{});
    }

    DeleteResult remove(RedisBroker& broker, std::string_view key) {
        std::optional<DeleteResult> got;
        broker.delete_then(key, [&](DeleteResult&& r) { got = std::move(r); });
        EXPECT_TRUE(loop.run_until([&] { return got.has_value(); }, kWait));
        return got.value_or(DeleteResult{});
    }

    shm::Segment segment;
    shm::Store store;
    std::array<int, core::kMaxWorkerSlots> wake_fds{};
    int relay_fds[2] = {-1, -1};
    Loop loop;
};

// Each worker tags its publishes with its own idempotency tokens (for a re-send after a lost
// connection): two workers of one node must never collide, or a publish is taken for a retry.
TEST_F(RedisBrokerTest, TwoWorkersOfANodeEachStoreTheirPublishes) {
    redis::testing::RedisServer redis;
    auto first = broker_on(0, redis.port());
    auto second = broker_on(1, redis.port());
    EXPECT_EQ(publish(*first, "/a", "one").status, core::Status::Ok);
    EXPECT_EQ(publish(*second, "/a", "two").status, core::Status::Ok);
    EXPECT_EQ(publish(*first, "/a", "three").status, core::Status::Ok);
    const InfoResult counted = info(*second, "/a");
    EXPECT_EQ(counted.status, core::Status::Ok);
    EXPECT_EQ(counted.info.messages, 3u);
}

TEST_F(RedisBrokerTest, TheSameIdempotencyKeyStoresOnce) {
    redis::testing::RedisServer redis;
    auto first = broker_on(0, redis.port());
    auto second = broker_on(1, redis.port());
    EXPECT_EQ(publish(*first, "/k", "once", "key-1").status, core::Status::Ok);
    EXPECT_EQ(publish(*second, "/k", "once", "key-1").status, core::Status::Ok);
    EXPECT_EQ(info(*first, "/k").info.messages, 1u);
}

TEST_F(RedisBrokerTest, DeleteAnswersTheInfoFromBeforeThenNotFound) {
    redis::testing::RedisServer redis;
    auto broker = broker_on(0, redis.port());
    publish(*broker, "/d", "x");
    const DeleteResult deleted = remove(*broker, "/d");
    EXPECT_EQ(deleted.status, core::Status::Ok);
    EXPECT_EQ(deleted.info.messages, 1u);
    EXPECT_EQ(remove(*broker, "/d").status, core::Status::NotFound);
    EXPECT_EQ(info(*broker, "/d").status, core::Status::NotFound);
}

// scale-out.md "Requests": 503 material, with the reason, never a hang.
TEST_F(RedisBrokerTest, WithoutRedisAPublishIsUnavailableAndNotPublished) {
    const int nobody = redis::testing::RedisServer::free_port();
    auto broker = broker_on(0, nobody);
    const PublishResult result = publish(*broker, "/u", "x");
    EXPECT_EQ(result.status, core::Status::Unavailable);
    EXPECT_NE(result.error.find("not published"), std::string::npos) << result.error;
    EXPECT_EQ(info(*broker, "/u").status, core::Status::Unavailable);
    EXPECT_EQ(store.stats().redis.count(core::RedisCounter::Unavailable), 1u);
}

}  // namespace
}  // namespace pushrelay::broker
