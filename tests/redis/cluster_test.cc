// redis::Commands and redis::ShardedSubscriptions against a real Redis 7.0 Cluster of 3 masters
// and 3 replicas on loopback (shared/scale-out.md "Redis Cluster"), and against a standalone
// Redis, where both are pass-throughs.
#include "redis/cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redis/keys.h"
#include "redis/scripts.h"
#include "tests/redis/harness.h"
#include "tests/redis/redis_server.h"
#include "tests/redis/script_runner.h"

namespace pushrelay::redis {
namespace {

using testing::Admin;
using testing::local;
using testing::Loop;
using testing::Recorder;
using testing::RedisServer;

constexpr double kCommandTimeout = 1;

// Six cluster-enabled redis-servers joined by `redis-cli --cluster create` (3 masters, each with
// a replica), node timeout 1 s so that a failover takes a few seconds.
class Cluster {
  public:
    Cluster() {
        for (int i = 0; i < 6; ++i) {
            const int bus = RedisServer::free_port();
            nodes_.push_back(std::make_unique<RedisServer>(std::vector<std::string>{
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0",
                "--cluster-port", std::to_string(bus)}));
        }
        std::vector<std::string> args{"/usr/bin/redis-cli", "--cluster", "create"};
        for (const auto& node : nodes_) args.push_back("127.0.0.1:" + std::to_string(node->port()));
        for (const char* arg : {"--cluster-replicas", "1", "--cluster-yes"}) args.push_back(arg);
        run_quietly(args);
    }

    // Polls (the cluster gossips; there is no event to await) until every live node says ok and
    // every master has its replica in sync: at most `limit` seconds.
    bool wait_ok(double limit = 15) {
        const auto until = testing::Clock::now() + std::chrono::duration<double>(limit);
        while (testing::Clock::now() < until) {
            if (all_ok())
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    // The port of the master serving `slot`, as a live node sees it; 0 if none.
    int master_port(unsigned slot) {
        for (const auto& node : nodes_) {
            if (dead_.count(node->port()))
                continue;
            auto context = testing::connect_to(node->port());
            testing::ReplyPtr slots = testing::command(context.get(), {"CLUSTER", "SLOTS"});
            for (std::size_t i = 0; i < slots->elements; ++i) {
                const redisReply* range = slots->element[i];
                if (static_cast<unsigned>(range->element[0]->integer) <= slot &&
                    slot <= static_cast<unsigned>(range->element[1]->integer))
                    return static_cast<int>(range->element[2]->element[1]->integer);
            }
            return 0;
        }
        return 0;
    }
    std::string node_id(int port) { return Admin(port).run({"CLUSTER", "MYID"}); }

    void kill(int port) {
        for (const auto& node : nodes_) {
            if (node->port() == port) {
                node->kill_now();
                dead_.insert({port, true});
            }
        }
    }
    int seed() const { return nodes_.front()->port(); }

  private:
    bool all_ok() {
        for (const auto& node : nodes_) {
            if (dead_.count(node->port()))
                continue;
            Admin admin(node->port());
            if (admin.run({"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos)
                return false;
            // A replica that never synced would not stand for a failover.
            const std::string replication = admin.run({"INFO", "replication"});
            if (replication.find("connected_slaves:1") == std::string::npos &&
                replication.find("master_link_status:up") == std::string::npos)
                return false;
        }
        return true;
    }
    static void run_quietly(const std::vector<std::string>& args) {
        const pid_t pid = fork();
        if (pid == 0) {
            std::vector<char*> argv;
            for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
            argv.push_back(nullptr);
            freopen("/dev/null", "w", stdout);
            execv(argv[0], argv.data());
            _exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("redis-cli --cluster create failed");
    }

    std::vector<std::unique_ptr<RedisServer>> nodes_;
    std::map<int, bool> dead_;
};

Settings settings_for(int port) {
    Settings settings = local(port, kCommandTimeout);
    for (int s = 0; s <= static_cast<int>(Script::Receipt); ++s)
        settings.scripts.emplace_back(script_source(static_cast<Script>(s)));
    return settings;
}

class SubscriptionEvents : public ShardedSubscriptionsObserver {
  public:
    void on_up() override { ++ups; }
    void on_down(const Failure& failure) override { downs.push_back(failure); }
    void on_lost(std::string_view channel) override { ++lost[std::string(channel)]; }
    void on_subscribed(std::string_view channel) override { ++subscribed[std::string(channel)]; }
    void on_message(std::string_view channel, std::string_view payload) override {
        messages[std::string(channel)].emplace_back(payload);
    }
    int ups = 0;
    std::vector<Failure> downs;
    std::map<std::string, int> lost;
    std::map<std::string, int> subscribed;
    std::map<std::string, std::vector<std::string>> messages;
};

class ClusterTest : public ::testing::Test {
  protected:
    void SetUp() override { signal(SIGPIPE, SIG_IGN); }

    // Runs `call` and waits for its reply (bounded).
    Reply publish(Commands& commands, const std::string& key, const std::string& body) {
        const ChannelKeys keys = channel_keys("NS", key);
        PublishRequest request;
        request.content_type = "text/plain";
        request.body = body;
        const ScriptCall call = publish_call({keys, commands.publish_command()}, request);
        return run(commands, call);
    }
    Reply run(Commands& commands, const ScriptCall& call) {
        ev_now_update(loop.get());
        bool done = false;
        Reply reply;
        commands.evalsha(static_cast<std::size_t>(call.script), call.keys, call.args,
                         [&](Reply&& r) {
                             done = true;
                             reply = std::move(r);
                         });
        EXPECT_TRUE(loop.run_until([&] { return done; }, 4 * kCommandTimeout));
        return reply;
    }

    // A channel key whose keys' slot is served by the master on `port`.
    std::string key_on(Cluster& cluster, int port, const std::string& prefix) {
        for (int n = 0;; ++n) {
            std::string key = prefix + "/" + std::to_string(n);
            if (cluster.master_port(cluster_slot(channel_keys("NS", key).channel)) == port)
                return key;
        }
    }
    std::vector<int> masters(Cluster& cluster) {
        std::vector<int> ports;
        for (unsigned slot : {0u, 8000u, 16000u}) ports.push_back(cluster.master_port(slot));
        return ports;
    }

    Loop loop;
    Recorder recorder;
    SubscriptionEvents events;
};

TEST_F(ClusterTest, ScriptsAndShardedFramesOnEveryShard) {
    Cluster cluster;
    ASSERT_TRUE(cluster.wait_ok());
    const std::vector<int> ports = masters(cluster);
    ASSERT_EQ(std::set<int>(ports.begin(), ports.end()).size(), 3u);

    Commands commands(loop.get(), settings_for(cluster.seed()), {local(cluster.seed()).address},
                      recorder);
    ShardedSubscriptions subscriptions(loop.get(), local(cluster.seed()), commands, events);
    std::vector<std::string> keys;
    for (int port : ports) {
        keys.push_back(key_on(cluster, port, "shard" + std::to_string(port)));
        subscriptions.subscribe(channel_keys("NS", keys.back()).pubsub);
    }
    ASSERT_TRUE(loop.run_until([&] { return commands.up() && subscriptions.up(); }, 5));
    EXPECT_TRUE(commands.cluster());
    EXPECT_EQ(commands.publish_command(), PublishCommand::SPublish);
    EXPECT_EQ(commands.server_version().substr(0, 2), "7.");
    EXPECT_EQ(recorder.ups, 1);
    ASSERT_TRUE(loop.run_until([&] { return subscriptions.channels() == 3; }, 3));

    for (const std::string& key : keys) {
        const Reply reply = publish(commands, key, "hello " + key);
        ASSERT_EQ(reply.outcome, Outcome::Ok) << reply.error;
        const auto parsed = parse_publish_reply(reply.value);
        ASSERT_EQ(parsed.index(), 0u);
        FetchRequest request;
        const ChannelKeys channel = channel_keys("NS", key);
        const auto fetched = parse_fetch_reply(run(commands, fetch_call(channel, request)).value);
        ASSERT_EQ(fetched.index(), 0u);
        ASSERT_EQ(std::get<0>(fetched).messages.size(), 1u);
        EXPECT_EQ(std::get<0>(fetched).messages[0].body, "hello " + key);
    }
    ASSERT_TRUE(loop.run_until([&] { return events.messages.size() == 3; }, 3));
    for (const std::string& key : keys) {
        const auto& frames = events.messages[channel_keys("NS", key).pubsub];
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_EQ(frames[0][0], 'M');
        EXPECT_NE(frames[0].find("hello " + key), std::string::npos);
    }
    // One connection per master (the seed is one of them), none for the replicas.
    EXPECT_EQ(commands.counters().connects, 3u);
    EXPECT_EQ(subscriptions.counters().connects, 3u);
    EXPECT_TRUE(recorder.downs.empty());
    EXPECT_TRUE(events.downs.empty());
}

TEST_F(ClusterTest, MovedSlotIsFollowedAndTheSubscriptionFollowsIt) {
    Cluster cluster;
    ASSERT_TRUE(cluster.wait_ok());
    const std::vector<int> ports = masters(cluster);
    const int from = ports[0];
    const int to = ports[1];
    const std::string key = key_on(cluster, from, "moving");
    const ChannelKeys channel = channel_keys("NS", key);
    const unsigned slot = cluster_slot(channel.channel);

    Commands commands(loop.get(), settings_for(cluster.seed()), {local(cluster.seed()).address},
                      recorder);
    ShardedSubscriptions subscriptions(loop.get(), local(cluster.seed()), commands, events);
    subscriptions.subscribe(channel.pubsub);
    ASSERT_TRUE(loop.run_until([&] { return events.subscribed[channel.pubsub] == 1; }, 5));
    ASSERT_TRUE(loop.run_until([&] { return commands.up(); }, 3));

    // The slot (empty: nothing was written to it) moves, as redis-cli --cluster reshard does it.
    const std::string slot_text = std::to_string(slot);
    Admin source(from);
    Admin target(to);
    ASSERT_EQ(target.run({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", cluster.node_id(from)}),
              "OK");
    ASSERT_EQ(source.run({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", cluster.node_id(to)}),
              "OK");
    ASSERT_EQ(target.run({"CLUSTER", "SETSLOT", slot_text, "NODE", cluster.node_id(to)}), "OK");
    ASSERT_EQ(source.run({"CLUSTER", "SETSLOT", slot_text, "NODE", cluster.node_id(to)}), "OK");

    // Commands' map still names the old master: MOVED, then the new one.
    ASSERT_EQ(commands.slot_map().master(slot)->name, "127.0.0.1:" + std::to_string(from));
    const Reply reply = publish(commands, key, "after the move");
    ASSERT_EQ(reply.outcome, Outcome::Ok) << reply.error;
    EXPECT_EQ(target.run({"EXISTS", channel.messages}), "1");
    EXPECT_EQ(source.run({"EXISTS", channel.messages}).substr(0, 5), "MOVED");
    ASSERT_TRUE(loop.run_until(
        [&] { return commands.slot_map().master(slot)->name == "127.0.0.1:" + std::to_string(to); },
        3));

    // The old master dropped our SSUBSCRIBE: the channel was lost, then confirmed on the new one.
    ASSERT_TRUE(loop.run_until([&] { return events.subscribed[channel.pubsub] == 2; }, 5));
    EXPECT_EQ(events.lost[channel.pubsub], 1);
    ASSERT_EQ(publish(commands, key, "seen").outcome, Outcome::Ok);
    ASSERT_TRUE(loop.run_until([&] { return !events.messages[channel.pubsub].empty(); }, 3));
    EXPECT_NE(events.messages[channel.pubsub].back().find("seen"), std::string::npos);
    EXPECT_TRUE(recorder.downs.empty());
}

TEST_F(ClusterTest, AKilledMasterPausesOnlyItsShardUntilTheFailover) {
    Cluster cluster;
    ASSERT_TRUE(cluster.wait_ok());
    const std::vector<int> ports = masters(cluster);
    const int victim = ports[1] == cluster.seed() ? ports[2] : ports[1];
    std::vector<std::string> keys;
    for (int port : ports) keys.push_back(key_on(cluster, port, "fo" + std::to_string(port)));
    const std::string dead_key = keys[victim == ports[1] ? 1 : 2];
    const std::string dead_channel = channel_keys("NS", dead_key).pubsub;

    Commands commands(loop.get(), settings_for(cluster.seed()), {local(cluster.seed()).address},
                      recorder);
    ShardedSubscriptions subscriptions(loop.get(), local(cluster.seed()), commands, events);
    for (const std::string& key : keys) subscriptions.subscribe(channel_keys("NS", key).pubsub);
    ASSERT_TRUE(loop.run_until(
        [&] { return commands.up() && subscriptions.up() && subscriptions.channels() == 3; }, 5));
    for (const std::string& key : keys)
        ASSERT_EQ(publish(commands, key, "before").outcome, Outcome::Ok);

    cluster.kill(victim);
    // The dead shard's commands fail (503 upstairs); the others' keep working meanwhile.
    const Reply failed = publish(commands, dead_key, "lost");
    EXPECT_NE(failed.outcome, Outcome::Ok);
    for (const std::string& key : keys) {
        if (key == dead_key)
            continue;
        EXPECT_EQ(publish(commands, key, "during").outcome, Outcome::Ok) << key;
    }
    EXPECT_FALSE(commands.up());
    ASSERT_FALSE(recorder.downs.empty());
    EXPECT_NE(recorder.downs[0].reason.find("shard 127.0.0.1:" + std::to_string(victim)),
              std::string::npos);
    ASSERT_TRUE(loop.run_until([&] { return events.lost[dead_channel] == 1; }, 3));
    EXPECT_EQ(events.lost.size(), 1u);  // the other shards' channels stayed confirmed

    // The replica takes over; CLUSTER SLOTS (read every second meanwhile) names it.
    ASSERT_TRUE(loop.run_until([&] { return commands.up(); }, 15));
    EXPECT_EQ(recorder.ups, 2);
    // Confirmed on the new master first: a frame published before that is not a subscriber's to
    // get (the relay's resync on the confirmation fetches it).
    ASSERT_TRUE(loop.run_until([&] { return events.subscribed[dead_channel] == 2; }, 10));
    const Reply again = publish(commands, dead_key, "after");
    ASSERT_EQ(again.outcome, Outcome::Ok) << again.error;
    ASSERT_TRUE(loop.run_until(
        [&] {
            const auto& frames = events.messages[dead_channel];
            return !frames.empty() && frames.back().find("after") != std::string::npos;
        },
        5));
    EXPECT_TRUE(subscriptions.up());
    EXPECT_EQ(subscriptions.channels(), 3u);
}

TEST_F(ClusterTest, StandaloneIsAPassThrough) {
    RedisServer server;
    Commands commands(loop.get(), settings_for(server.port()), {local(server.port()).address},
                      recorder);
    ShardedSubscriptions subscriptions(loop.get(), local(server.port()), commands, events);
    const std::string pubsub = channel_keys("NS", "solo").pubsub;
    subscriptions.subscribe(pubsub);
    ASSERT_TRUE(loop.run_until([&] { return events.subscribed[pubsub] == 1; }, 3));
    EXPECT_FALSE(commands.cluster());
    EXPECT_EQ(commands.publish_command(), PublishCommand::Publish);
    EXPECT_TRUE(commands.up());
    EXPECT_TRUE(subscriptions.up());
    ASSERT_EQ(publish(commands, "solo", "plain").outcome, Outcome::Ok);
    ASSERT_TRUE(loop.run_until([&] { return !events.messages[pubsub].empty(); }, 3));
    EXPECT_NE(events.messages[pubsub][0].find("plain"), std::string::npos);
    EXPECT_EQ(commands.counters().connects, 1u);

    // Down and back: reported as the one Connection and Subscription report it.
    server.stop();
    ASSERT_TRUE(
        loop.run_until([&] { return !recorder.downs.empty() && events.lost[pubsub] == 1; }, 5));
    server.start();
    ASSERT_TRUE(loop.run_until([&] { return events.subscribed[pubsub] == 2 && commands.up(); }, 5));
    EXPECT_EQ(recorder.ups, 2);
}

}  // namespace
}  // namespace pushrelay::redis
