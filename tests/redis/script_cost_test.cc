// What the scripts cost Redis (redis/scripts.h; doc/decisions.md "Script cost"): the commands a
// script runs per call, counted by Redis itself in `INFO commandstats` over a steady-state load
// (20,000 publishes to 100 channels, each with a worker's retry token, as the relay's workers
// send them). The count is deterministic, so it is what the tests bound; the EVALSHA time is
// printed for the record.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "redis/scripts.h"
#include "tests/redis/flushed_redis.h"

namespace pushrelay::redis {
namespace {

using testing::command;
using testing::connect_to;
using testing::ContextPtr;
using testing::ReplyPtr;

constexpr int kChannels = 100;
constexpr std::uint64_t kNode = 0xc057;

struct CommandStat {
    long long calls = 0;
    double usec_per_call = 0;
};

class ScriptCost : public testing::FlushedRedisTest {
  protected:
    void SetUp() override {
        FlushedRedisTest::SetUp();
        for (int i = 0; i < kChannels; ++i)
            keys_.push_back(channel_keys("pr", "cost/" + std::to_string(i)));
        for (Script s : {Script::Publish, Script::Fetch, Script::Count})
            command(redis_.get(), {"SCRIPT", "LOAD", std::string(script_source(s))});
    }

    void append(const std::vector<std::string>& argv) {
        std::vector<const char*> parts;
        std::vector<size_t> sizes;
        for (const std::string& arg : argv) {
            parts.push_back(arg.data());
            sizes.push_back(arg.size());
        }
        redisAppendCommandArgv(redis_.get(), static_cast<int>(argv.size()), parts.data(),
                               sizes.data());
    }

    // Sends the calls pipelined, a window at a time, and checks that none failed.
    void run_all(const std::vector<ScriptCall>& calls) {
        constexpr std::size_t kWindow = 200;
        for (std::size_t first = 0; first < calls.size(); first += kWindow) {
            const std::size_t last = std::min(calls.size(), first + kWindow);
            for (std::size_t i = first; i < last; ++i) append(calls[i].evalsha_argv());
            for (std::size_t i = first; i < last; ++i) {
                void* raw = nullptr;
                ASSERT_EQ(redisGetReply(redis_.get(), &raw), REDIS_OK) << redis_->errstr;
                ReplyPtr reply(static_cast<redisReply*>(raw));
                ASSERT_NE(reply->type, REDIS_REPLY_ERROR) << std::string(reply->str, reply->len);
            }
        }
    }

    // `rounds` publishes to every channel, each with the next retry token.
    void publish_rounds(int rounds) {
        std::vector<ScriptCall> calls;
        for (int round = 0; round < rounds; ++round)
            for (const ChannelKeys& keys : keys_) {
                PublishRequest request{"text/plain",
                                       "a body of some forty bytes, give or take",
                                       "",
                                       core::ChannelLimits{},
                                       StorageMode::Distributed,
                                       retry_idempotency(kNode, ++sequence_),
                                       std::nullopt};
                calls.push_back(publish_call({keys}, request));
            }
        run_all(calls);
    }

    void reset_stats() { command(redis_.get(), {"CONFIG", "RESETSTAT"}); }

    // INFO commandstats, by command name.
    std::map<std::string, CommandStat> command_stats() {
        ReplyPtr reply = command(redis_.get(), {"INFO", "commandstats"});
        std::istringstream lines(std::string(reply->str, reply->len));
        std::map<std::string, CommandStat> stats;
        for (std::string line; std::getline(lines, line);) {
            char name[64] = {};
            CommandStat stat;
            long long usec = 0;
            if (std::sscanf(line.c_str(), "cmdstat_%63[^:]:calls=%lld,usec=%lld,usec_per_call=%lf",
                            name, &stat.calls, &usec, &stat.usec_per_call) == 4)
                stats[name] = stat;
        }
        return stats;
    }

    // The commands the scripts ran per EVALSHA since reset_stats(), printed with their mix.
    double calls_per_script(const char* what) {
        std::map<std::string, CommandStat> stats = command_stats();
        const CommandStat evalsha = stats["evalsha"];
        long long inner = 0;
        std::string mix;
        for (const auto& [name, stat] : stats) {
            if (name == "evalsha" || name == "config|resetstat" || name == "info")
                continue;
            inner += stat.calls;
            mix += " " + name + "=" + std::to_string(stat.calls);
        }
        EXPECT_GT(evalsha.calls, 0) << what;
        const double per_call = static_cast<double>(inner) / static_cast<double>(evalsha.calls);
        std::printf("%s: %lld calls, %.1f usec_per_call, %.2f commands per call;%s\n", what,
                    evalsha.calls, evalsha.usec_per_call, per_call, mix.c_str());
        return per_call;
    }

    std::vector<ChannelKeys> keys_;
    std::uint64_t sequence_ = 0;
};

// Every channel full (max_buffer 10), every publish trimming one and adding a retry token.
TEST_F(ScriptCost, APublishRunsFewCommandsInTheSteadyState) {
    publish_rounds(20);
    reset_stats();
    publish_rounds(200);
    EXPECT_LE(calls_per_script("publish"), 15.0);
}

// The relay's count per subscriber change, and a subscriber's fetch, on full channels.
TEST_F(ScriptCost, FetchAndCountRunFewCommands) {
    publish_rounds(20);
    std::vector<ScriptCall> fetches;
    std::vector<ScriptCall> counts;
    for (int round = 0; round < 20; ++round)
        for (const ChannelKeys& keys : keys_) {
            FetchRequest request{core::MessageId{0, 0}, 1, std::nullopt, true, {}};
            fetches.push_back(fetch_call(keys, request));
            counts.push_back(count_call(keys, {kNode + round % 3, 2, true}));
        }
    reset_stats();
    run_all(fetches);
    EXPECT_LE(calls_per_script("fetch"), 5.0);
    reset_stats();
    run_all(counts);
    EXPECT_LE(calls_per_script("count"), 9.0);
}

}  // namespace
}  // namespace pushrelay::redis
