// Tests for push/grip_sequencer.h: grip.md "Ordering, de-duplication (id / prev-id)", rule by rule.
#include "push/grip_sequencer.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pushrelay::push {
namespace {

grip::Item item(std::string id, std::optional<std::string> prev = std::nullopt,
                bool no_seq = false) {
    grip::Item i;
    i.channel = "c";
    if (!id.empty())
        i.id = std::move(id);
    i.prev_id = std::move(prev);
    i.no_seq = no_seq;
    return i;
}

// Each step runs on a state decoded from bytes and encoded again after, as GripPublisher runs
// it through the broker, so every test also checks that the state survives its encoding.
struct Sequenced : ::testing::Test {
    // What went out, as "key:id" ("key:-" for an item without id), in order.
    std::vector<std::string> out;
    bool full = false;                          // Emit refuses while set (a full segment)
    std::map<std::string, std::string> states;  // key -> encoded state, as the segment keeps it
    GripSequencer::Timing timing{.message_wait_ms = 5000, .id_cache_ttl_ms = 60000};

    // Runs `act` on a sequencer over `key`'s state at `now`, then keeps the state as the
    // publisher would (forgotten when wake_at says so).
    template <typename Act>
    auto step(const std::string& key, std::int64_t now, Act act) {
        std::optional<GripChannelState> state = decode_state(states[key]);
        EXPECT_TRUE(state.has_value());
        if (!state)
            state.emplace();
        const GripSequencer::Emit emit = [&](const grip::Item& i, const core::ChannelLimits&) {
            if (full)
                return false;
            out.push_back(key + ":" + i.id.value_or("-"));
            return true;
        };
        GripSequencer seq(*state, emit);
        auto result = act(seq);
        if (seq.wake_at(now))
            states[key] = encode_state(*state);
        else
            states.erase(key);
        return result;
    }

    GripSequencer::Outcome submit(grip::Item i, std::int64_t now, std::string key = "/c") {
        return step(key, now,
                    [&](GripSequencer& seq) { return seq.submit(std::move(i), {}, timing, now); });
    }
    std::size_t tick(std::int64_t now, std::string key = "/c") {
        return step(key, now, [&](GripSequencer& seq) { return seq.tick(now); });
    }
    std::optional<std::int64_t> wake_at(std::int64_t now, std::string key = "/c") {
        return step(key, now, [&](GripSequencer& seq) { return seq.wake_at(now); });
    }
};

using Outcome = GripSequencer::Outcome;
using Strings = std::vector<std::string>;

TEST_F(Sequenced, FirstItemGoesAtOnceWhateverItsPrevId) {
    EXPECT_EQ(submit(item("1", "0"), 0), Outcome::Sent);  // L unset
    EXPECT_EQ(out, Strings{"/c:1"});
}

TEST_F(Sequenced, InOrderAndWithoutPrevIdGoAtOnce) {
    submit(item("1"), 0);
    EXPECT_EQ(submit(item("2", "1"), 1), Outcome::Sent);  // P = L
    EXPECT_EQ(submit(item("3"), 2), Outcome::Sent);       // no P
    EXPECT_EQ(out, (Strings{"/c:1", "/c:2", "/c:3"}));
}

TEST_F(Sequenced, OutOfOrderWaitsForItsPredecessorThenFollowsAtOnce) {
    submit(item("1"), 0);
    EXPECT_EQ(submit(item("3", "2"), 1), Outcome::Waiting);
    EXPECT_EQ(submit(item("4", "3"), 2), Outcome::Waiting);
    EXPECT_EQ(out, Strings{"/c:1"});
    EXPECT_EQ(submit(item("2", "1"), 3), Outcome::Sent);  // releases 3, which releases 4
    EXPECT_EQ(out, (Strings{"/c:1", "/c:2", "/c:3", "/c:4"}));
    EXPECT_EQ(tick(10'000), 0u);  // nothing left waiting
}

TEST_F(Sequenced, AWaitingItemGoesAnywayAfterTheMessageWait) {
    submit(item("1"), 0);
    submit(item("3", "2"), 1000);
    EXPECT_EQ(wake_at(1001), 6000);
    EXPECT_EQ(tick(5999), 0u);
    EXPECT_EQ(tick(6000), 1u);
    EXPECT_EQ(out, (Strings{"/c:1", "/c:3"}));
    EXPECT_EQ(submit(item("4", "3"), 6001), Outcome::Sent);  // L followed it
}

// The state between steps is bytes in the segment: everything an item carries survives them.
TEST_F(Sequenced, AWaitingItemSurvivesTheEncodingWhole) {
    GripChannelState state;
    state.last_id = "1";
    state.id_cache_ttl_ms = 7;
    state.forget_at_ms = 8;
    state.seen_until = {{"1", 60'000}, {"", 5}};
    grip::Item waiting = item("3", "2", true);
    waiting.http_response.emplace();
    waiting.http_response->code = 201;
    waiting.http_response->headers = {{"X-A", "b"}};
    waiting.http_response->body = std::string("\0body", 5);
    waiting.http_stream.emplace();
    waiting.http_stream->content = "stream";
    core::ChannelLimits limits;
    limits.max_buffer = 3;
    state.waiting.push_back({waiting, limits, 9});
    std::optional<GripChannelState> back = decode_state(encode_state(state));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->last_id, state.last_id);
    EXPECT_EQ(back->id_cache_ttl_ms, 7);
    EXPECT_EQ(back->forget_at_ms, 8);
    EXPECT_EQ(back->seen_until, state.seen_until);
    ASSERT_EQ(back->waiting.size(), 1u);
    EXPECT_EQ(grip::pack_item(back->waiting.front().item), grip::pack_item(waiting));
    EXPECT_EQ(back->waiting.front().limits.max_buffer, 3u);
    EXPECT_EQ(back->waiting.front().deadline_ms, 9);
}

TEST_F(Sequenced, BytesItDidNotWriteAreRefused) {
    GripChannelState state;
    state.last_id = "1";
    const std::string bytes = encode_state(state);
    EXPECT_TRUE(decode_state("").has_value());  // a channel never seen
    EXPECT_FALSE(decode_state(bytes.substr(0, bytes.size() - 1)).has_value());
    EXPECT_FALSE(decode_state(bytes + "x").has_value());
    EXPECT_FALSE(decode_state("\x7f" + bytes.substr(1)).has_value());
}

TEST_F(Sequenced, ASecondWaiterOnTheSamePrevIdIsDropped) {
    submit(item("1"), 0);
    EXPECT_EQ(submit(item("3", "2"), 1), Outcome::Waiting);
    EXPECT_EQ(submit(item("3b", "2"), 2), Outcome::Dropped);
}

TEST_F(Sequenced, AtMostAHundredWaitPerChannel) {
    submit(item("1"), 0);
    for (int n = 0; n < 100; ++n)
        ASSERT_EQ(submit(item("w" + std::to_string(n), "p" + std::to_string(n)), 1),
                  Outcome::Waiting);
    EXPECT_EQ(submit(item("w100", "p100"), 1), Outcome::Dropped);
    EXPECT_EQ(submit(item("x", "p100"), 1, "/other"), Outcome::Sent);  // per channel
}

TEST_F(Sequenced, NoSeqGoesAtOnceAndLeavesLAlone) {
    submit(item("1"), 0);
    EXPECT_EQ(submit(item("x", "zzz", true), 1), Outcome::Sent);
    EXPECT_EQ(submit(item("2", "1"), 2), Outcome::Sent);  // L is still 1
    EXPECT_EQ(out, (Strings{"/c:1", "/c:x", "/c:2"}));
}

TEST_F(Sequenced, AnItemWithoutIdUnsetsL) {
    submit(item("1"), 0);
    submit(item(""), 1);
    EXPECT_EQ(submit(item("5", "4"), 2), Outcome::Sent);  // L unset: at once
}

TEST_F(Sequenced, ARepeatedIdIsDroppedWithinTheTtlOnly) {
    submit(item("1"), 0);
    EXPECT_EQ(submit(item("1"), 59'999), Outcome::Duplicate);
    tick(60'000);
    EXPECT_EQ(submit(item("1"), 60'000), Outcome::Sent);
    EXPECT_EQ(out, (Strings{"/c:1", "/c:1"}));
}

TEST_F(Sequenced, ARetryOfAWaitingItemIsDropped) {
    submit(item("1"), 0);
    submit(item("3", "2"), 1);
    EXPECT_EQ(submit(item("3", "2"), 2), Outcome::Duplicate);
}

TEST_F(Sequenced, DuplicatesAreCountedPerStep) {
    submit(item("1"), 0);
    GripChannelState state = *decode_state(states["/c"]);
    const GripSequencer::Emit emit = [](const grip::Item&, const core::ChannelLimits&) {
        return true;
    };
    GripSequencer seq(state, emit);
    seq.submit(item("1"), {}, timing, 1);
    seq.submit(item("2", "9"), {}, timing, 1);  // waits: not a duplicate
    seq.submit(item("2", "9"), {}, timing, 1);
    EXPECT_EQ(seq.duplicates(), 2u);
}

TEST_F(Sequenced, TtlZeroKeepsNoIds) {
    timing.id_cache_ttl_ms = 0;
    submit(item("1"), 0);
    EXPECT_EQ(submit(item("1"), 1), Outcome::Sent);
}

TEST_F(Sequenced, ARefusedItemIsNotRecorded) {
    full = true;
    EXPECT_EQ(submit(item("1"), 0), Outcome::NoSpace);
    full = false;
    EXPECT_EQ(submit(item("1"), 1), Outcome::Sent);  // not taken for a repeat
}

TEST_F(Sequenced, RecoverForgetsL) {
    submit(item("1"), 0);
    step("/c", 1, [](GripSequencer& seq) {
        seq.recover();
        return 0;
    });
    EXPECT_EQ(submit(item("9", "8"), 1), Outcome::Sent);
}

TEST_F(Sequenced, ChannelsAreForgottenAMinuteAfterTheirLastPublish) {
    submit(item("1"), 0);
    EXPECT_EQ(wake_at(1), 60'000);
    tick(59'999);
    EXPECT_TRUE(states.contains("/c"));
    tick(60'000);
    EXPECT_FALSE(states.contains("/c"));
    EXPECT_EQ(submit(item("7", "6"), 60'001), Outcome::Sent);  // L forgotten
}

TEST_F(Sequenced, AWaitingItemKeepsTheChannelPastItsMinute) {
    timing.message_wait_ms = 120'000;
    submit(item("1"), 0);
    submit(item("3", "2"), 0);
    tick(60'000);
    EXPECT_TRUE(states.contains("/c"));
    EXPECT_EQ(wake_at(60'001), 120'000);
}

TEST_F(Sequenced, ALongerIdTtlKeepsTheChannel) {
    timing.id_cache_ttl_ms = 120'000;
    submit(item("1"), 0);
    EXPECT_EQ(wake_at(1), 120'000);
    tick(60'000);
    EXPECT_EQ(submit(item("1"), 60'001), Outcome::Duplicate);
}

}  // namespace
}  // namespace pushrelay::push
