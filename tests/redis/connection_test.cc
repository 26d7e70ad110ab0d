// redis::Connection against a real redis-server (tests/redis/redis_server.h): setup, replies,
// AUTH and ACL, timeouts, reconnects and NOSCRIPT (shared/scale-out.md "Processes and
// connections", "AUTH and ACL", "Notification path and resync").
#include "redis/connection.h"

#include <arpa/inet.h>
#include <ev.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/redis/harness.h"
#include "tests/redis/redis_server.h"

namespace pushrelay::redis {
namespace {

using testing::Admin;
using testing::Clock;
using testing::local;
using testing::Loop;
using testing::Recorder;
using testing::RedisServer;
using testing::since;

// Collects the replies of a command: how many came, and the last.
struct Replies {
    Connection::Callback callback() {
        return [this](Reply&& reply) {
            ++count;
            last = std::move(reply);
        };
    }
    bool done() const { return count > 0; }
    int count = 0;
    Reply last;
};

class ConnectionTest : public ::testing::Test {
  protected:
    void SetUp() override { signal(SIGPIPE, SIG_IGN); }  // as master and workers do

    // Runs until `connection` is up (bounded).
    bool wait_up(Connection& connection, double limit = 3) {
        return loop.run_until([&] { return connection.up(); }, limit);
    }
    Reply run(Connection& connection, std::vector<std::string> argv, double limit = 3) {
        ev_now_update(loop.get());  // the command's deadlines count from the loop's time
        Replies replies;
        connection.command(std::move(argv), replies.callback());
        EXPECT_TRUE(loop.run_until([&] { return replies.done(); }, limit));
        return replies.last;
    }

    Loop loop;
    Recorder recorder;
};

TEST_F(ConnectionTest, ConnectsAndRunsCommands) {
    RedisServer server;
    Connection connection(loop.get(), local(server.port()), recorder);
    EXPECT_FALSE(connection.up());  // the first attempt runs from the loop

    // Called before the connection is up: it waits, then goes out.
    Replies set;
    connection.command({"SET", "k", "v"}, set.callback());
    ASSERT_TRUE(loop.run_until([&] { return set.done(); }, 3));
    EXPECT_EQ(set.last.outcome, Outcome::Ok);
    EXPECT_EQ(set.last.value.type, Value::Type::Status);
    EXPECT_EQ(set.last.value.string, "OK");
    EXPECT_EQ(recorder.ups, 1);
    EXPECT_TRUE(recorder.downs.empty());
    EXPECT_EQ(connection.server_version().substr(0, 2), "7.");
    EXPECT_FALSE(connection.cluster_enabled());

    const Reply get = run(connection, {"GET", "k"});
    EXPECT_EQ(get.value.type, Value::Type::String);
    EXPECT_EQ(get.value.string, "v");
    EXPECT_EQ(run(connection, {"INCR", "n"}).value.integer, 1);
    EXPECT_EQ(run(connection, {"GET", "missing"}).value.type, Value::Type::Nil);
    run(connection, {"RPUSH", "l", "a", "b"});
    const Reply range = run(connection, {"LRANGE", "l", "0", "-1"});
    ASSERT_EQ(range.value.type, Value::Type::Array);
    ASSERT_EQ(range.value.elements.size(), 2u);
    EXPECT_EQ(range.value.elements[1].string, "b");
    EXPECT_EQ(run(connection, {"CLIENT", "GETNAME"}).value.string, client_name("test"));

    const Reply wrong = run(connection, {"INCR", "k"});
    EXPECT_EQ(wrong.outcome, Outcome::ErrorReply);
    EXPECT_EQ(wrong.error.substr(0, 3), "ERR");

    EXPECT_EQ(connection.counters().connects, 1u);
    EXPECT_EQ(connection.counters().commands, 8u);
    EXPECT_EQ(connection.counters().errors, 1u);
}

TEST_F(ConnectionTest, ArgumentsAreBinarySafe) {
    RedisServer server;
    Connection connection(loop.get(), local(server.port()), recorder);
    const std::string key("k\0\r\n y", 6);
    const std::string value("\0\xff\r\n$3\r\n", 9);
    EXPECT_EQ(run(connection, {"SET", key, value}).outcome, Outcome::Ok);
    EXPECT_EQ(run(connection, {"GET", key}).value.string, value);
    EXPECT_EQ(run(connection, {"STRLEN", key}).value.integer, 9);
}

TEST_F(ConnectionTest, AuthWithThePassword) {
    RedisServer server({"--requirepass", "s3cret"});
    Settings settings = local(server.port());
    settings.password = "s3cret";
    settings.db = 3;
    Connection connection(loop.get(), settings, recorder);
    ASSERT_TRUE(wait_up(connection));
    run(connection, {"SET", "in-db-3", "x"});
    Admin admin(server.port());
    admin.run({"AUTH", "s3cret"});
    admin.run({"SELECT", "3"});
    EXPECT_EQ(admin.run({"GET", "in-db-3"}), "x");  // SELECT was part of the setup
    EXPECT_TRUE(recorder.downs.empty());
}

TEST_F(ConnectionTest, WrongPasswordIsReportedOnceAndRetriedWithBackoff) {
    RedisServer server({"--requirepass", "s3cret"});
    Settings settings = local(server.port());
    settings.password = "wrong";
    Connection connection(loop.get(), settings, recorder);
    loop.run_for(2.0);
    EXPECT_FALSE(connection.up());
    ASSERT_EQ(recorder.downs.size(), 1u);
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Auth);
    EXPECT_NE(recorder.downs[0].reason.find("AUTH failed: WRONGPASS"), std::string::npos);
    // Attempts at 0, then after 0.1, 0.2, 0.4, 0.8 s (±20 %): the 5th by 1.8 s, the 6th not
    // before 2.0 s. Neither given up nor hammering.
    EXPECT_GE(connection.counters().attempts, 4u);
    EXPECT_LE(connection.counters().attempts, 6u);
    EXPECT_EQ(connection.counters().connects, 0u);
}

TEST_F(ConnectionTest, AclUserWithoutARightGetsNoperm) {
    RedisServer server;
    Admin admin(server.port());
    ASSERT_EQ(admin.run({"ACL", "SETUSER", "limited", "on", ">pw", "~*", "&*", "+@all", "-set"}),
              "OK");
    Settings settings = local(server.port());
    settings.user = "limited";
    settings.password = "pw";
    Connection connection(loop.get(), settings, recorder);
    const Reply set = run(connection, {"SET", "k", "v"});
    EXPECT_EQ(set.outcome, Outcome::ErrorReply);
    EXPECT_EQ(set.error.substr(0, 6), "NOPERM");
    EXPECT_EQ(run(connection, {"GET", "k"}).outcome, Outcome::Ok);
    EXPECT_EQ(connection.counters().errors, 1u);
}

TEST_F(ConnectionTest, NopermOnASetupCommandIsAnAuthFailureNamingIt) {
    RedisServer server;
    Admin admin(server.port());
    ASSERT_EQ(admin.run({"ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "+@all", "-info"}), "OK");
    Settings settings = local(server.port());
    settings.user = "noinfo";
    settings.password = "pw";
    Connection connection(loop.get(), settings, recorder);
    loop.run_for(0.8);
    EXPECT_FALSE(connection.up());
    ASSERT_EQ(recorder.downs.size(), 1u);
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Auth);
    EXPECT_NE(recorder.downs[0].reason.find("INFO server failed: NOPERM"), std::string::npos);
    EXPECT_GE(connection.counters().attempts, 3u);
}

TEST_F(ConnectionTest, StoppedServerFailsPendingCommandsOnceThenReconnectsWithBackoff) {
    RedisServer server;
    Connection connection(loop.get(), local(server.port(), 5), recorder);
    ASSERT_TRUE(wait_up(connection));
    Replies blocked;
    connection.command({"BLPOP", "never", "0"}, blocked.callback());
    loop.run_for(0.05);  // BLPOP is out
    server.stop();
    ASSERT_TRUE(loop.run_until([&] { return blocked.done(); }, 2));
    EXPECT_EQ(blocked.last.outcome, Outcome::Lost);
    EXPECT_NE(blocked.last.error.find("connection lost"), std::string::npos);
    ASSERT_GE(recorder.downs.size(), 1u);
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Io);

    // Down for a while: retried, each new reason reported once (lost, then refused).
    loop.run_for(2.5);
    EXPECT_FALSE(connection.up());
    EXPECT_GE(connection.counters().attempts, 5u);
    EXPECT_LE(recorder.downs.size(), 2u);

    server.start();  // returns once Redis accepts connections
    const auto accepting = Clock::now();
    ASSERT_TRUE(wait_up(connection));
    EXPECT_LT(since(accepting), 1.5);  // the backoff is at most 1 s + 20 %
    EXPECT_EQ(recorder.ups, 2);
    EXPECT_EQ(blocked.count, 1);  // exactly once
    EXPECT_EQ(run(connection, {"PING"}).value.string, "PONG");
}

TEST_F(ConnectionTest, ACommandNotSentWithinTheCommandTimeoutIsUnavailable) {
    int port;
    {
        RedisServer gone;
        port = gone.port();
    }
    Connection connection(loop.get(), local(port, 0.3), recorder);
    const auto start = Clock::now();
    const Reply reply = run(connection, {"GET", "k"});
    EXPECT_EQ(reply.outcome, Outcome::Unavailable);
    EXPECT_GE(since(start), 0.29);
    EXPECT_LT(since(start), 1.5);
    EXPECT_NE(reply.error.find("not connected: connect() failed"), std::string::npos);
    ASSERT_EQ(recorder.downs.size(), 1u);
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Io);
    EXPECT_EQ(connection.counters().errors, 1u);
}

TEST_F(ConnectionTest, PausedServerTimesTheCommandOutAndTheConnectionIsDropped) {
    RedisServer server;
    Connection connection(loop.get(), local(server.port(), 0.3, 0.5), recorder);
    ASSERT_TRUE(wait_up(connection));
    server.pause();
    const auto start = Clock::now();
    Replies get;
    connection.command({"GET", "k"}, get.callback());
    const bool answered = loop.run_until([&] { return get.done(); }, 3);
    server.resume();
    ASSERT_TRUE(answered);
    EXPECT_EQ(get.last.outcome, Outcome::Timeout);
    EXPECT_GE(since(start), 0.29);
    EXPECT_NE(get.last.error.find("no reply from Redis within 0.3s"), std::string::npos);
    EXPECT_FALSE(connection.up());
    ASSERT_FALSE(recorder.downs.empty());
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Timeout);

    ASSERT_TRUE(wait_up(connection));
    EXPECT_EQ(connection.counters().connects, 2u);
    EXPECT_EQ(get.count, 1);
}

TEST_F(ConnectionTest, DebugSleepTimesOut) {
    RedisServer server({"--enable-debug-command", "yes"});
    Connection connection(loop.get(), local(server.port(), 0.3), recorder);
    ASSERT_TRUE(wait_up(connection));
    const Reply reply = run(connection, {"DEBUG", "SLEEP", "1"});
    EXPECT_EQ(reply.outcome, Outcome::Timeout);
    ASSERT_EQ(recorder.downs.size(), 1u);
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Timeout);
    ASSERT_TRUE(wait_up(connection));  // once Redis wakes up
}

TEST_F(ConnectionTest, ClientKillIsFollowedByAReconnect) {
    RedisServer server;
    Connection connection(loop.get(), local(server.port()), recorder);
    ASSERT_TRUE(wait_up(connection));
    Admin admin(server.port());
    EXPECT_EQ(admin.run({"CLIENT", "KILL", "TYPE", "normal"}), "1");
    ASSERT_TRUE(loop.run_until([&] { return !recorder.downs.empty(); }, 2));
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Io);
    EXPECT_NE(recorder.downs[0].reason.find("connection lost"), std::string::npos);
    ASSERT_TRUE(wait_up(connection));
    EXPECT_EQ(recorder.ups, 2);
    EXPECT_EQ(run(connection, {"PING"}).outcome, Outcome::Ok);
}

TEST_F(ConnectionTest, NoscriptAfterScriptFlushIsReloadedAndRetried) {
    RedisServer server;
    Settings settings = local(server.port());
    settings.scripts = {"return KEYS[1] .. ARGV[1]"};
    Connection connection(loop.get(), settings, recorder);
    auto evalsha = [&](const std::string& arg) {
        Replies replies;
        connection.evalsha(0, {"key:"}, {arg}, replies.callback());
        EXPECT_TRUE(loop.run_until([&] { return replies.done(); }, 3));
        return replies.last;
    };
    EXPECT_EQ(evalsha("first").value.string, "key:first");
    EXPECT_EQ(run(connection, {"SCRIPT", "FLUSH"}).outcome, Outcome::Ok);
    const Reply again = evalsha("second");
    EXPECT_EQ(again.outcome, Outcome::Ok);
    EXPECT_EQ(again.value.string, "key:second");
    EXPECT_EQ(connection.counters().commands, 4u);  // the retried EVALSHA went out twice
    EXPECT_EQ(connection.counters().errors, 0u);
    EXPECT_EQ(recorder.ups, 1);
}

TEST_F(ConnectionTest, IdlePingFindsAStalledServer) {
    RedisServer server;
    Connection connection(loop.get(), local(server.port(), 0.4), recorder);
    ASSERT_TRUE(wait_up(connection));
    server.pause();
    const auto start = Clock::now();
    const bool found = loop.run_until([&] { return !recorder.downs.empty(); }, 3);
    server.resume();
    ASSERT_TRUE(found);  // nothing was sent but the PING
    EXPECT_EQ(recorder.downs[0].kind, Failure::Kind::Timeout);
    // A PING after 0.2 s idle, its reply due 0.4 s later.
    EXPECT_LT(since(start), 1.2);
    EXPECT_EQ(connection.counters().commands, 0u);
}

TEST_F(ConnectionTest, BusyIsNotReadyAndKeepsTheConnection) {
    RedisServer server({"--busy-reply-threshold", "50"});
    Connection connection(loop.get(), local(server.port()), recorder);
    ASSERT_TRUE(wait_up(connection));
    Admin admin(server.port());
    // Busy for 3 s at most, should SCRIPT KILL not get to it.
    admin.send({"EVAL",
                "local s = redis.call('TIME')[1] while redis.call('TIME')[1] - s < 3 do end", "0"});
    // The EVAL may reach Redis after a GET: ask until Redis says it is busy (bounded).
    Reply busy;
    for (int i = 0; i < 20 && busy.outcome != Outcome::NotReady; ++i)
        busy = run(connection, {"GET", "k"});
    EXPECT_EQ(busy.outcome, Outcome::NotReady);
    EXPECT_EQ(busy.error.substr(0, 4), "BUSY");
    EXPECT_EQ(run(connection, {"SCRIPT", "KILL"}).outcome, Outcome::Ok);
    EXPECT_NE(admin.read_reply().find("killed"), std::string::npos);
    EXPECT_TRUE(connection.up());
    EXPECT_TRUE(recorder.downs.empty());
    EXPECT_EQ(run(connection, {"GET", "k"}).outcome, Outcome::Ok);
}

}  // namespace
}  // namespace pushrelay::redis

namespace pushrelay::redis {
namespace {

// Every process adds to the node's sums: each report passes only what came since the last.
TEST(CounterDeltas, ReportsWhatEachCounterGrewBySinceTheLastReport) {
    CounterDeltas deltas;
    std::map<core::RedisCounter, std::uint64_t> added;
    auto add = [&added](core::RedisCounter counter, std::uint64_t n) { added[counter] += n; };
    deltas.report({.attempts = 5, .connects = 2, .commands = 10, .errors = 1}, add);
    deltas.report({.attempts = 9, .connects = 3, .commands = 25, .errors = 1}, add);
    EXPECT_EQ(added[core::RedisCounter::Connects], 3u);
    EXPECT_EQ(added[core::RedisCounter::Commands], 25u);
    EXPECT_EQ(added[core::RedisCounter::Errors], 1u);
    added.clear();
    deltas.report({.attempts = 9, .connects = 3, .commands = 26, .errors = 2}, add);
    EXPECT_EQ(added[core::RedisCounter::Connects], 0u);
    EXPECT_EQ(added[core::RedisCounter::Commands], 1u);
    EXPECT_EQ(added[core::RedisCounter::Errors], 1u);
}

}  // namespace
}  // namespace pushrelay::redis
