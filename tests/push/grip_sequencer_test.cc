// Tests for push/grip_sequencer.h: grip.md "Ordering, de-duplication (id / prev-id)", rule by rule.
#include "push/grip_sequencer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
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

struct Sequenced : ::testing::Test {
    // What went out, as "key:id" ("key:-" for an item without id), in order.
    std::vector<std::string> out;
    bool full = false;  // Emit refuses while set (a full segment)
    GripSequencer seq{
        [this](const std::string& key, const grip::Item& i, const core::ChannelLimits&) {
            if (full)
                return false;
            out.push_back(key + ":" + i.id.value_or("-"));
            return true;
        }};
    GripSequencer::Timing timing{.message_wait_ms = 5000, .id_cache_ttl_ms = 60000};

    GripSequencer::Outcome submit(grip::Item i, std::int64_t now, std::string key = "/c") {
        return seq.submit(key, std::move(i), {}, timing, now);
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
    EXPECT_EQ(seq.tick(10'000), 0u);  // nothing left waiting
}

TEST_F(Sequenced, AWaitingItemGoesAnywayAfterTheMessageWait) {
    submit(item("1"), 0);
    submit(item("3", "2"), 1000);
    EXPECT_EQ(seq.next_deadline(), 6000);
    EXPECT_EQ(seq.tick(5999), 0u);
    EXPECT_EQ(seq.tick(6000), 1u);
    EXPECT_EQ(out, (Strings{"/c:1", "/c:3"}));
    EXPECT_EQ(submit(item("4", "3"), 6001), Outcome::Sent);  // L followed it
}

TEST_F(Sequenced, FlushSendsEveryWaitingItemInArrivalOrder) {
    submit(item("1"), 0);
    submit(item("5", "4"), 1);
    submit(item("3", "2"), 2);
    submit(item("9"), 0, "/d");
    submit(item("x", "y"), 3, "/d");
    EXPECT_EQ(seq.flush(4), 3u);
    // Channels come in any order; within one, arrival order.
    Strings c;
    std::copy_if(out.begin(), out.end(), std::back_inserter(c),
                 [](const std::string& s) { return s.starts_with("/c:"); });
    EXPECT_EQ(c, (Strings{"/c:1", "/c:5", "/c:3"}));
    EXPECT_EQ(out.size(), 5u);
    EXPECT_EQ(seq.tick(10'000), 0u);
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
    EXPECT_EQ(submit(item("1"), 59'999), Outcome::Dropped);
    seq.tick(60'000);
    EXPECT_EQ(submit(item("1"), 60'000), Outcome::Sent);
    EXPECT_EQ(out, (Strings{"/c:1", "/c:1"}));
}

TEST_F(Sequenced, ARetryOfAWaitingItemIsDropped) {
    submit(item("1"), 0);
    submit(item("3", "2"), 1);
    EXPECT_EQ(submit(item("3", "2"), 2), Outcome::Dropped);
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
    seq.recover();
    EXPECT_EQ(submit(item("9", "8"), 1), Outcome::Sent);
}

TEST_F(Sequenced, ChannelsAreForgottenAMinuteAfterTheirLastPublish) {
    submit(item("1"), 0);
    submit(item("2", "1"), 0, "/d");
    EXPECT_EQ(seq.channel_count(), 2u);
    EXPECT_EQ(seq.next_deadline(), 60'000);
    seq.tick(59'999);
    EXPECT_EQ(seq.channel_count(), 2u);
    seq.tick(60'000);
    EXPECT_EQ(seq.channel_count(), 0u);
    EXPECT_EQ(seq.next_deadline(), std::nullopt);
    EXPECT_EQ(submit(item("7", "6"), 60'001), Outcome::Sent);  // L forgotten
}

TEST_F(Sequenced, ALongerIdTtlKeepsTheChannel) {
    timing.id_cache_ttl_ms = 120'000;
    submit(item("1"), 0);
    EXPECT_EQ(seq.next_deadline(), 120'000);
    seq.tick(60'000);
    EXPECT_EQ(submit(item("1"), 60'001), Outcome::Dropped);
}

}  // namespace
}  // namespace pushrelay::push
