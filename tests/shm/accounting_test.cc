// Memory and reference accounting: pins outliving their channel, a full segment, thousands of
// channels coming and going, mailbox overflow and slot reset. doc/shm-layout.md, "Messages and
// pins", "Out of space" and "Mailboxes".
#include <gtest/gtest.h>

#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {
namespace {

// Free bytes after everything a test created is gone, compared with the start.
void expect_free_within_one_percent(std::uint64_t start, std::uint64_t now) {
    EXPECT_LE(now, start);
    EXPECT_GE(static_cast<double>(now), 0.99 * static_cast<double>(start));
}

using PinTest = StoreTest;

TEST_F(PinTest, PinnedMessageSurvivesItsChannelsDeletion) {
    // The slot's first pin allocates its ledger, which stays: measured from after that.
    publish("g/warm", "w", kT0);
    EXPECT_EQ(poll("g/warm", std::nullopt, kT0), "w");
    store_.delete_channel("g/warm", kT0);
    const std::uint64_t free_at_start = store_.stats().free;
    publish("g/a", std::string(5000, 'p'), kT0);
    auto result = store_.subscribe(request("g/a", kT0));
    ASSERT_TRUE(result.message);
    ASSERT_EQ(store_.delete_channel("g/a", kT0).status, Status::Ok);
    EXPECT_EQ(store_.stats().messages, 0u);
    const std::uint64_t free_while_pinned = store_.stats().free;
    EXPECT_LT(free_while_pinned, free_at_start) << "the pinned message still takes its space";
    EXPECT_EQ(store_.view(result.message).body, std::string(5000, 'p'));
    store_.unpin(result.message);
    EXPECT_EQ(store_.stats().free, free_at_start);
}

TEST_F(PinTest, PinnedMessageSurvivesBeingTrimmed) {
    ChannelLimits one{.min_buffer = 0, .max_buffer = 1};
    publish("g/a", "first", kT0, one);
    auto result = store_.subscribe(request("g/a", kT0));
    publish("g/a", "second", kT0, one);
    EXPECT_EQ(store_.view(result.message).body, "first");
    store_.unpin(result.message);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "second");
}

class NoSpaceTest : public StoreTest {
  protected:
    NoSpaceTest() : StoreTest(1 << 20) {}

    // Publishes 16 KiB messages to "g/full" until the segment refuses one; returns how many fit.
    int fill() {
        const ChannelLimits many{.max_buffer = 100000};
        for (int i = 0;; ++i) {
            auto result = publish("g/full", std::string(16 << 10, char('a' + i % 26)), kT0, many);
            if (result.status == Status::NoSpace) {
                return i;
            }
            EXPECT_EQ(result.status, Status::Ok);
        }
    }
};

TEST_F(NoSpaceTest, AFullSegmentRefusesAPublishAndKeepsWhatItHas) {
    const int stored = fill();
    ASSERT_GT(stored, 10);
    const Store::Stats before = store_.stats();
    EXPECT_EQ(publish("g/full", std::string(16 << 10, 'z'), kT0 + 1000).status, Status::NoSpace);
    EXPECT_EQ(messages_in("g/full", kT0), static_cast<std::uint64_t>(stored));
    EXPECT_EQ(poll("g/full", std::nullopt, kT0), std::string(16 << 10, 'a'));
    EXPECT_EQ(store_.stats().published, before.published) << "a refused publish is not counted";
    EXPECT_EQ(store_.stats().messages, before.messages);
}

TEST_F(NoSpaceTest, ARefusedPublishLeavesNoChannelBehind) {
    fill();
    auto result = publish("g/new", std::string(16 << 10, 'n'), kT0);
    EXPECT_EQ(result.status, Status::NoSpace);
    EXPECT_FALSE(store_.info("g/new", kT0).has_value());
    EXPECT_EQ(store_.stats().channels, 1u);
}

TEST_F(NoSpaceTest, DeletingMakesRoomAgain) {
    fill();
    ASSERT_EQ(store_.delete_channel("g/full", kT0).status, Status::Ok);
    EXPECT_EQ(publish("g/full", std::string(16 << 10, 'z'), kT0).status, Status::Ok);
    EXPECT_EQ(publish("g/other", "small", kT0).status, Status::Ok);
}

TEST_F(NoSpaceTest, ExpiryMakesRoomAgain) {
    const ChannelLimits many{.max_buffer = 100000, .message_timeout_ms = 1000};
    int stored = 0;
    while (publish("g/full", std::string(16 << 10, 'x'), kT0, many).status == Status::Ok) {
        ++stored;
    }
    ASSERT_GT(stored, 10);
    store_.expire(kT0 + 1000);
    EXPECT_EQ(publish("g/full", std::string(16 << 10, 'y'), kT0 + 1000, many).status, Status::Ok);
}

class ManyChannelsTest : public StoreTest {
  protected:
    static constexpr int kChannels = 10000;
    ManyChannelsTest() : StoreTest(32 << 20) {}

    static std::string key(int i) { return "group/channel-" + std::to_string(i); }
};

TEST_F(ManyChannelsTest, PublishingAndDeletingReturnsTheMemory) {
    const std::uint64_t free_at_start = store_.stats().free;
    for (int i = 0; i < kChannels; ++i) {
        ASSERT_EQ(publish(key(i), "message " + std::to_string(i), kT0).status, Status::Ok);
    }
    EXPECT_EQ(store_.stats().channels, static_cast<std::uint64_t>(kChannels));
    EXPECT_EQ(store_.stats().messages, static_cast<std::uint64_t>(kChannels));
    for (int i = 0; i < kChannels; ++i) {
        ASSERT_EQ(store_.delete_channel(key(i), kT0).status, Status::Ok);
    }
    EXPECT_EQ(store_.stats().channels, 0u);
    EXPECT_EQ(store_.stats().messages, 0u);
    expect_free_within_one_percent(free_at_start, store_.stats().free);
}

TEST_F(ManyChannelsTest, PublishingAndExpiringReturnsTheMemory) {
    const std::uint64_t free_at_start = store_.stats().free;
    const ChannelLimits limits{
        .min_buffer = 0, .message_timeout_ms = 1000, .channel_timeout_ms = 2000};
    for (int i = 0; i < kChannels; ++i) {
        ASSERT_EQ(publish(key(i), "message " + std::to_string(i), kT0 + i % 7, limits).status,
                  Status::Ok);
    }
    store_.expire(kT0 + 1010);
    EXPECT_EQ(store_.stats().messages, 0u);
    EXPECT_EQ(store_.stats().channels, static_cast<std::uint64_t>(kChannels));
    store_.expire(kT0 + 3010);
    EXPECT_EQ(store_.stats().channels, 0u);
    expect_free_within_one_percent(free_at_start, store_.stats().free);
}

using MailboxTest = StoreTest;

TEST_F(MailboxTest, AFullMailboxDropsEventsAndSetsTheOverflowFlag) {
    const ChannelLimits limits{.max_buffer = 5};
    // A waiter elsewhere makes slot 1's mailbox exist before the baseline is taken.
    store_.subscribe(request("g/other", kT0, std::nullopt, 1));
    const std::uint64_t free_at_start = store_.stats().free;
    auto held = store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    constexpr int kPublishes = 1030;  // more than a mailbox holds
    for (int i = 0; i < kPublishes; ++i) {
        ASSERT_EQ(publish("g/a", std::to_string(i), kT0, limits).wake_slots_mask, bit(1))
            << "a full mailbox's slot is still woken, to resync";
    }
    bool overflowed = false;
    auto events = drain(1, &overflowed);
    EXPECT_TRUE(overflowed);
    EXPECT_LT(events.size(), static_cast<std::size_t>(kPublishes));
    EXPECT_GT(events.size(), 0u);
    EXPECT_EQ(store_.view(events.front().message).body, "0");
    unpin_all(events);

    // The flag is reported once; the resync then finds the newest stored messages.
    drain(1, &overflowed);
    EXPECT_FALSE(overflowed);
    auto next = store_.find_next("g/a", held.uid, core::MessageId{0, 0}, kT0);
    EXPECT_EQ(take_body(next.message), std::to_string(kPublishes - 5));

    store_.release_waiters("g/a", held.uid, 1, 1, kT0);
    store_.delete_channel("g/a", kT0);
    EXPECT_EQ(store_.stats().free, free_at_start)
        << "every dropped or drained event gave its pin back";
}

TEST_F(MailboxTest, ResetSlotForgetsTheSlotsWaitersAndEvents) {
    const ChannelLimits unstored{.store_messages = false};
    publish("g/b", "", kT0, unstored);  // a publisher's channel: it outlives its waiters
    store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    store_.subscribe(request("g/a", kT0, std::nullopt, 2));
    store_.subscribe(request("g/b", kT0, std::nullopt, 1));
    const std::uint64_t free_before_publish = store_.stats().free;
    publish("g/a", std::string(4000, 'x'), kT0, unstored);

    store_.reset_slot(1, kT0);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 1u);
    EXPECT_EQ(store_.info("g/b", kT0)->subscribers, 0u);
    EXPECT_EQ(store_.stats().subscribers, 1u);
    bool overflowed = true;
    EXPECT_TRUE(drain(1, &overflowed).empty());
    EXPECT_FALSE(overflowed);

    // Slot 2's event still pins the unstored message; once it is given back, all is free again.
    auto events = drain(2);
    ASSERT_EQ(events.size(), 1u);
    unpin_all(events);
    EXPECT_EQ(store_.stats().free, free_before_publish);

    // g/b, left without waiters, is idle now and expires like any idle channel.
    store_.expire(kT0 + 5000);
    EXPECT_FALSE(store_.info("g/b", kT0 + 5000).has_value());
}

}  // namespace
}  // namespace pushrelay::shm
