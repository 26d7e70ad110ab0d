// redis::Subscription against a real redis-server (tests/redis/redis_server.h), published to with
// a hiredis sync client: confirmations, message order, binary payloads, batching, reconnects and
// resubscription, the idle PING and dead-peer detection, ACL (shared/scale-out.md "Processes and
// connections", "Notification path and resync", "AUTH and ACL", "Redis Cluster").
#include "redis/subscription.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "redis/keys.h"
#include "tests/redis/harness.h"
#include "tests/redis/redis_server.h"

namespace pushrelay::redis {
namespace {

// The harness's Loop, Admin, local(), since(), and RedisServer.
using namespace pushrelay::redis::testing;

class Events : public SubscriptionObserver {
  public:
    void on_up() override { ++ups; }
    void on_down(const Failure& failure) override { downs.push_back(failure); }
    void on_subscribed(std::string_view channel) override {
        ++subscribed[std::string(channel)];
        ++confirmations;
    }
    void on_message(std::string_view channel, std::string_view payload) override {
        messages.emplace_back(channel, payload);
    }
    void on_moved(std::string_view channel) override { moved.emplace_back(channel); }

    // The payloads received on `channel`, in order.
    std::vector<std::string> payloads(const std::string& channel) const {
        std::vector<std::string> found;
        for (const auto& [name, payload] : messages)
            if (name == channel)
                found.push_back(payload);
        return found;
    }

    int ups = 0;
    std::vector<Failure> downs;
    std::map<std::string, int> subscribed;  // on_subscribed calls per channel
    int confirmations = 0;
    std::vector<std::pair<std::string, std::string>> messages;
    std::vector<std::string> moved;
};

// The "name=value" field of INFO's or CLIENT LIST's text; "" when absent.
std::string field(const std::string& text, const std::string& name) {
    const std::size_t at = text.find(name + "=");
    if (at == std::string::npos)
        return {};
    const std::size_t begin = at + name.size() + 1;
    return text.substr(begin, text.find_first_of(" ,\r\n", begin) - begin);
}

class SubscriptionTest : public ::testing::Test {
  protected:
    void SetUp() override { signal(SIGPIPE, SIG_IGN); }  // as the relay does

    bool wait_subscribed(const std::string& channel, int times = 1, double limit = 3) {
        return loop.run_until([&] { return events.subscribed[channel] >= times; }, limit);
    }
    bool wait_messages(std::size_t count, double limit = 3) {
        return loop.run_until([&] { return events.messages.size() >= count; }, limit);
    }

    Loop loop;
    Events events;
};

TEST_F(SubscriptionTest, ConfirmationThenMessagesInOrder) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port()), false, events);
    subscription.subscribe("NS:{a}");
    subscription.subscribe("NS:{a}");  // idempotent
    EXPECT_FALSE(subscription.up());   // the first attempt runs from the loop
    ASSERT_TRUE(wait_subscribed("NS:{a}"));
    ASSERT_TRUE(loop.run_until([&] { return subscription.up(); }, 1));
    EXPECT_EQ(events.ups, 1);
    EXPECT_EQ(events.subscribed["NS:{a}"], 1);
    EXPECT_EQ(subscription.channels(), 1u);

    Admin admin(server.port());
    const std::string clients = admin.run({"CLIENT", "LIST", "TYPE", "pubsub"});
    EXPECT_EQ(field(clients, "name"), client_name("test"));
    EXPECT_EQ(field(clients, "sub"), "1");
    EXPECT_EQ(admin.run({"PUBLISH", "NS:{other}", "x"}), "0");
    for (int i = 0; i < 100; ++i)
        ASSERT_EQ(admin.run({"PUBLISH", "NS:{a}", "m" + std::to_string(i)}), "1");
    ASSERT_TRUE(wait_messages(100));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(events.messages[i].second, "m" + std::to_string(i));
    EXPECT_EQ(events.payloads("NS:{a}").size(), 100u);
    EXPECT_TRUE(events.downs.empty());
    EXPECT_EQ(subscription.counters().connects, 1u);
}

TEST_F(SubscriptionTest, ChannelsAndPayloadsAreBinarySafe) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port()), false, events);
    const std::string channel("NS:{b\0\r\n}", 9);
    subscription.subscribe(channel);
    ASSERT_TRUE(wait_subscribed(channel));
    const std::string small("\0\xff\r\n*3\r\n$7\r\n", 13);
    std::string large(1 << 20, '\0');
    for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 7);
    Admin admin(server.port());
    ASSERT_EQ(admin.run({"PUBLISH", channel, small}), "1");
    ASSERT_EQ(admin.run({"PUBLISH", channel, large}), "1");
    ASSERT_EQ(admin.run({"PUBLISH", channel, ""}), "1");
    ASSERT_TRUE(wait_messages(3));
    EXPECT_EQ(events.messages[0].first, channel);
    EXPECT_EQ(events.messages[0].second, small);
    EXPECT_TRUE(events.messages[1].second == large);  // no 1 MB diff in the log
    EXPECT_EQ(events.messages[2].second, "");
    EXPECT_TRUE(events.downs.empty());
}

TEST_F(SubscriptionTest, UnsubscribeStopsMessages) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port()), false, events);
    subscription.subscribe("NS:{a}");
    subscription.subscribe("NS:{b}");
    ASSERT_TRUE(wait_subscribed("NS:{a}") && wait_subscribed("NS:{b}"));
    EXPECT_EQ(subscription.channels(), 2u);

    subscription.unsubscribe("NS:{a}");
    subscription.unsubscribe("NS:{a}");  // idempotent
    EXPECT_EQ(subscription.channels(), 1u);
    Admin admin(server.port());
    // Delivered nothing from now on, even before Redis has the UNSUBSCRIBE.
    admin.run({"PUBLISH", "NS:{a}", "late"});
    ASSERT_TRUE(loop.run_until(
        [&] {
            return field(admin.run({"CLIENT", "LIST", "TYPE", "pubsub"}), "sub") == "1";
        },
        3));
    EXPECT_EQ(admin.run({"PUBLISH", "NS:{a}", "after"}), "0");
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{b}", "b1"}), "1");
    ASSERT_TRUE(wait_messages(1));
    loop.run_for(0.05);
    ASSERT_EQ(events.messages.size(), 1u);
    EXPECT_EQ(events.messages[0], std::make_pair(std::string("NS:{b}"), std::string("b1")));

    // Unsubscribed and subscribed again within one loop iteration: subscribed.
    subscription.unsubscribe("NS:{b}");
    subscription.subscribe("NS:{b}");
    subscription.subscribe("NS:{a}");
    ASSERT_TRUE(wait_subscribed("NS:{a}", 2) && wait_subscribed("NS:{b}", 2));
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{b}", "b2"}), "1");
    ASSERT_TRUE(wait_messages(2));
    EXPECT_EQ(events.payloads("NS:{b}"), (std::vector<std::string>{"b1", "b2"}));
    EXPECT_EQ(subscription.channels(), 2u);
    EXPECT_TRUE(events.downs.empty());
}

TEST_F(SubscriptionTest, ManyChannelsAreSubscribedInBatches) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port()), false, events);
    ASSERT_TRUE(loop.run_until([&] { return subscription.up(); }, 3));
    for (int i = 0; i < 1000; ++i) subscription.subscribe("NS:{c" + std::to_string(i) + "}");
    ASSERT_TRUE(loop.run_until([&] { return events.confirmations == 1000; }, 5));
    EXPECT_EQ(subscription.channels(), 1000u);
    Admin admin(server.port());
    const std::string stats = admin.run({"INFO", "commandstats"});
    EXPECT_EQ(field(stats.substr(stats.find("cmdstat_subscribe:")), "calls"), "4");  // 256 each
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{c999}", "last"}), "1");
    ASSERT_TRUE(wait_messages(1));
    EXPECT_EQ(events.messages[0].first, "NS:{c999}");
}

TEST_F(SubscriptionTest, RestartedServerIsResubscribedWithinTheBackoff) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port()), false, events);
    subscription.subscribe("NS:{a}");
    subscription.subscribe("NS:{gone}");
    ASSERT_TRUE(wait_subscribed("NS:{a}"));
    server.stop();
    ASSERT_TRUE(loop.run_until([&] { return !events.downs.empty(); }, 2));
    EXPECT_EQ(events.downs[0].kind, Failure::Kind::Io);
    EXPECT_NE(events.downs[0].reason.find("connection lost"), std::string::npos);
    EXPECT_EQ(subscription.channels(), 0u);

    // While down: what is wanted changes, and is remembered.
    subscription.subscribe("NS:{new}");
    subscription.unsubscribe("NS:{gone}");
    loop.run_for(2.5);
    EXPECT_FALSE(subscription.up());
    EXPECT_GE(subscription.counters().attempts, 5u);
    EXPECT_LE(events.downs.size(), 2u);  // lost, then refused: each reason once

    server.start();
    const auto accepting = Clock::now();
    ASSERT_TRUE(wait_subscribed("NS:{a}", 2));
    EXPECT_LT(since(accepting), 1.5);  // the backoff is at most 1 s + 20 %
    ASSERT_TRUE(wait_subscribed("NS:{new}"));
    ASSERT_TRUE(loop.run_until([&] { return subscription.up(); }, 1));
    EXPECT_EQ(events.ups, 2);
    EXPECT_EQ(events.subscribed["NS:{gone}"], 1);
    EXPECT_EQ(subscription.channels(), 2u);
    Admin admin(server.port());
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{a}", "again"}), "1");
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{new}", "first"}), "1");
    EXPECT_EQ(admin.run({"PUBLISH", "NS:{gone}", "x"}), "0");
    ASSERT_TRUE(wait_messages(2));
    EXPECT_EQ(events.payloads("NS:{a}"), std::vector<std::string>{"again"});
    EXPECT_EQ(events.payloads("NS:{new}"), std::vector<std::string>{"first"});
}

TEST_F(SubscriptionTest, ClientKillIsFollowedByAResubscription) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port()), false, events);
    subscription.subscribe("NS:{a}");
    ASSERT_TRUE(wait_subscribed("NS:{a}"));
    Admin admin(server.port());
    EXPECT_EQ(admin.run({"CLIENT", "KILL", "TYPE", "pubsub"}), "1");
    ASSERT_TRUE(loop.run_until([&] { return !events.downs.empty(); }, 2));
    EXPECT_EQ(events.downs[0].kind, Failure::Kind::Io);
    ASSERT_TRUE(wait_subscribed("NS:{a}", 2));
    EXPECT_EQ(subscription.counters().connects, 2u);
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{a}", "after kill"}), "1");
    ASSERT_TRUE(wait_messages(1));
}

TEST_F(SubscriptionTest, ASleepingServerIsDeclaredDeadThenReconnected) {
    RedisServer server({"--enable-debug-command", "yes"});
    Subscription subscription(loop.get(), local(server.port(), 0.3), false, events);
    subscription.subscribe("NS:{a}");
    ASSERT_TRUE(wait_subscribed("NS:{a}"));
    Admin admin(server.port());
    admin.send({"DEBUG", "SLEEP", "1.5"});
    const auto asleep = Clock::now();
    // Idle: a PING after 0.15 s, unanswered for 0.3 s.
    ASSERT_TRUE(loop.run_until([&] { return !events.downs.empty(); }, 3));
    EXPECT_LT(since(asleep), 1.0);
    EXPECT_EQ(events.downs[0].kind, Failure::Kind::Timeout);
    EXPECT_EQ(events.downs[0].reason, "no reply from Redis within 0.3s");
    EXPECT_EQ(admin.read_reply(), "OK");
    ASSERT_TRUE(wait_subscribed("NS:{a}", 2));  // once Redis wakes up
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{a}", "awake"}), "1");
    ASSERT_TRUE(wait_messages(1));
}

TEST_F(SubscriptionTest, IdlePingsKeepTheConnectionUp) {
    RedisServer server;
    Subscription subscription(loop.get(), local(server.port(), 0.3), false, events);
    subscription.subscribe("NS:{a}");
    ASSERT_TRUE(wait_subscribed("NS:{a}"));
    loop.run_for(1.5);  // 5 command timeouts with nothing published
    EXPECT_TRUE(events.downs.empty());
    EXPECT_EQ(subscription.counters().connects, 1u);
    Admin admin(server.port());
    const std::string stats = admin.run({"INFO", "commandstats"});
    const std::string pings = field(stats.substr(stats.find("cmdstat_ping:")), "calls");
    EXPECT_GE(std::stoi(pings), 4);  // one every 0.15 s of silence
}

TEST_F(SubscriptionTest, AclUserWithTheLeastPrivilegeSubscribes) {
    RedisServer server;
    Admin admin(server.port());
    // scale-out.md "AUTH and ACL", with NS = "NS".
    ASSERT_EQ(admin.run({"ACL",           "SETUSER",     "relay",        "on",
                         ">pw",           "resetkeys",   "~NS:*",        "resetchannels",
                         "&NS:*",         "-@all",       "+@connection", "+@read",
                         "+@write",       "+@scripting", "+@pubsub",     "-@dangerous",
                         "-script|flush", "+info",       "+time",        "+cluster|slots"}),
              "OK");
    Settings settings = local(server.port());
    settings.user = "relay";
    settings.password = "pw";
    settings.db = 2;
    Subscription subscription(loop.get(), settings, false, events);
    subscription.subscribe("NS:{a}");
    ASSERT_TRUE(wait_subscribed("NS:{a}"));
    const std::string clients = admin.run({"CLIENT", "LIST", "TYPE", "pubsub"});
    EXPECT_EQ(field(clients, "user"), "relay");
    EXPECT_EQ(field(clients, "db"), "2");
    ASSERT_EQ(admin.run({"PUBLISH", "NS:{a}", "m"}), "1");
    ASSERT_TRUE(wait_messages(1));
    EXPECT_TRUE(events.downs.empty());
}

TEST_F(SubscriptionTest, WrongPasswordIsAnAuthFailure) {
    RedisServer server({"--requirepass", "s3cret"});
    Settings settings = local(server.port());
    settings.password = "wrong";
    Subscription subscription(loop.get(), settings, false, events);
    loop.run_for(0.8);
    EXPECT_EQ(events.ups, 0);
    ASSERT_EQ(events.downs.size(), 1u);
    EXPECT_EQ(events.downs[0].kind, Failure::Kind::Auth);
    EXPECT_NE(events.downs[0].reason.find("AUTH failed: WRONGPASS"), std::string::npos);
}

TEST_F(SubscriptionTest, NopermOnSubscribeIsAnAuthFailureReportedOnce) {
    RedisServer server;
    Admin admin(server.port());
    ASSERT_EQ(
        admin.run({"ACL", "SETUSER", "nochannels", "on", ">pw", "~*", "resetchannels", "+@all"}),
        "OK");
    Settings settings = local(server.port());
    settings.user = "nochannels";
    settings.password = "pw";
    Subscription subscription(loop.get(), settings, false, events);
    subscription.subscribe("NS:{a}");
    loop.run_for(0.8);
    EXPECT_EQ(events.ups, 0);  // SUBSCRIBE of what is wanted is part of the setup
    EXPECT_TRUE(events.subscribed.empty());
    ASSERT_EQ(events.downs.size(), 1u);
    EXPECT_EQ(events.downs[0].kind, Failure::Kind::Auth);
    EXPECT_NE(events.downs[0].reason.find("SUBSCRIBE failed: NOPERM"), std::string::npos);
    // Retried with the backoff (0, 0.1, 0.3, 0.7 s ±20 %), neither given up nor hammering.
    EXPECT_GE(subscription.counters().attempts, 3u);
    EXPECT_LE(subscription.counters().attempts, 5u);
}

TEST_F(SubscriptionTest, ShardedSubscriptionGetsSmessages) {
    RedisServer server;  // Redis 7.0 accepts SSUBSCRIBE outside cluster mode
    Subscription subscription(loop.get(), local(server.port()), true, events);
    subscription.subscribe("NS:{a}");
    subscription.subscribe("NS:{b}");
    ASSERT_TRUE(wait_subscribed("NS:{a}") && wait_subscribed("NS:{b}"));
    Admin admin(server.port());
    EXPECT_EQ(admin.run({"PUBLISH", "NS:{a}", "not shard"}), "0");
    ASSERT_EQ(admin.run({"SPUBLISH", "NS:{a}", "s1"}), "1");
    ASSERT_EQ(admin.run({"SPUBLISH", "NS:{b}", "s2"}), "1");
    ASSERT_TRUE(wait_messages(2));
    EXPECT_EQ(events.payloads("NS:{a}"), std::vector<std::string>{"s1"});
    EXPECT_EQ(events.payloads("NS:{b}"), std::vector<std::string>{"s2"});

    subscription.unsubscribe("NS:{a}");
    ASSERT_TRUE(loop.run_until([&] { return admin.run({"SPUBLISH", "NS:{a}", "x"}) == "0"; }, 3));
    EXPECT_EQ(events.payloads("NS:{a}").size(), 1u);
    EXPECT_TRUE(events.moved.empty());
    EXPECT_TRUE(events.downs.empty());
}

// Two Redis 7.0 Cluster nodes on loopback, each serving half the slots: A 0-8191, B 8192-16383.
class TwoShards {
  public:
    TwoShards() : a_(node_args(bus_a_)), b_(node_args(bus_b_)) {
        Admin a(a_.port());
        Admin b(b_.port());
        a.run({"CLUSTER", "ADDSLOTSRANGE", "0", "8191"});
        b.run({"CLUSTER", "ADDSLOTSRANGE", "8192", "16383"});
        a.run({"CLUSTER", "MEET", "127.0.0.1", std::to_string(b_.port()), std::to_string(bus_b_)});
    }
    // Polls (there is no event to await) until both nodes say the cluster is ok: at most 10 s.
    bool wait_ok() {
        for (int i = 0; i < 1000; ++i) {
            if (ok(a_) && ok(b_))
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    RedisServer& a() { return a_; }

  private:
    static std::vector<std::string> node_args(int bus_port) {
        return {"--cluster-enabled", "yes", "--cluster-port", std::to_string(bus_port)};
    }
    static bool ok(const RedisServer& node) {
        return Admin(node.port()).run({"CLUSTER", "INFO"}).find("cluster_state:ok") !=
               std::string::npos;
    }
    // The bus port is not the default port + 10000, which may pass 65535.
    const int bus_a_ = RedisServer::free_port();
    const int bus_b_ = RedisServer::free_port();
    RedisServer a_;
    RedisServer b_;
};

// The first "NS:{<prefix><n>}" whose slot is in [low, high].
std::string channel_in_slots(const std::string& prefix, unsigned low, unsigned high) {
    for (int n = 0;; ++n) {
        std::string channel = "NS:{" + prefix + std::to_string(n) + "}";
        const unsigned slot = cluster_slot(channel);
        if (slot >= low && slot <= high)
            return channel;
    }
}

TEST_F(SubscriptionTest, MovedChannelsAreHandedBackToTheCaller) {
    TwoShards shards;
    ASSERT_TRUE(shards.wait_ok());
    const std::string here = channel_in_slots("here", 0, 8191);
    const std::string there = channel_in_slots("there", 8192, 16383);
    Subscription subscription(loop.get(), local(shards.a().port()), true, events);
    subscription.subscribe(here);
    subscription.subscribe(there);  // another batch: another slot
    ASSERT_TRUE(loop.run_until([&] { return subscription.up(); }, 3));
    EXPECT_EQ(events.moved, std::vector<std::string>{there});
    EXPECT_EQ(events.subscribed[here], 1);
    EXPECT_EQ(events.subscribed.count(there), 0u);
    EXPECT_EQ(subscription.wanted(), 1u);
    EXPECT_EQ(subscription.channels(), 1u);
    Admin a(shards.a().port());
    ASSERT_EQ(a.run({"SPUBLISH", here, "m"}), "1");
    ASSERT_TRUE(wait_messages(1));

    // The slot leaves shard A: Redis unsubscribes us itself, and the caller hears of it.
    const std::string slot = std::to_string(cluster_slot(here));
    ASSERT_EQ(a.run({"CLUSTER", "DELSLOTS", slot}), "OK");
    ASSERT_TRUE(loop.run_until([&] { return events.moved.size() == 2; }, 3));
    EXPECT_EQ(events.moved[1], here);
    EXPECT_EQ(subscription.wanted(), 0u);
    EXPECT_EQ(subscription.channels(), 0u);
    EXPECT_TRUE(events.downs.empty());
}

}  // namespace
}  // namespace pushrelay::redis
