// Store semantics in one process: message ids, search, trimming, limits, expiry, subscriber
// outcomes and waiter counts. doc/shm-layout.md, "Channels" and "Expiry".
#include "shm/store.h"

#include <gtest/gtest.h>

#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {
namespace {

using StoreIdTest = StoreTest;

TEST_F(StoreIdTest, TagsCountUpWithinASecondAndRestartAcrossSeconds) {
    EXPECT_EQ(publish("g/a", "1", kT0).id, (core::MessageId{kT0 / 1000, 0}));
    EXPECT_EQ(publish("g/a", "2", kT0 + 10).id, (core::MessageId{kT0 / 1000, 1}));
    EXPECT_EQ(publish("g/a", "3", kT0 + 999).id, (core::MessageId{kT0 / 1000, 2}));
    EXPECT_EQ(publish("g/a", "4", kT0 + 1000).id, (core::MessageId{kT0 / 1000 + 1, 0}));
    EXPECT_EQ(publish("g/a", "5", kT0 + 5000).id, (core::MessageId{kT0 / 1000 + 5, 0}));
}

TEST_F(StoreIdTest, ChannelsNumberTheirMessagesIndependently) {
    publish("g/a", "1", kT0);
    publish("g/a", "2", kT0);
    EXPECT_EQ(publish("g/b", "1", kT0).id.tag, 0u);
}

TEST_F(StoreIdTest, IdsStayMonotonicWhenTheClockStepsBack) {
    publish("g/a", "1", kT0 + 5000);
    EXPECT_EQ(publish("g/a", "2", kT0).id, (core::MessageId{kT0 / 1000 + 5, 1}));
}

TEST_F(StoreIdTest, DroppedMessagesStillAdvanceTheId) {
    ChannelLimits one{.min_buffer = 0, .max_buffer = 1};
    publish("g/a", "1", kT0, one);
    publish("g/a", "2", kT0, one);
    EXPECT_EQ(publish("g/a", "3", kT0, one).id.tag, 2u);
}

TEST_F(StoreIdTest, PublishCopiesContentTypeAndBinaryBody) {
    const std::string body("a\0b\r\n\xff", 6);
    store_.publish("g/a", "application/octet-stream", "", body, {}, kT0);
    auto result = store_.subscribe(request("g/a", kT0));
    ASSERT_TRUE(result.message);
    MessageView view = store_.view(result.message);
    EXPECT_EQ(view.content_type, "application/octet-stream");
    EXPECT_EQ(view.body, body);
    EXPECT_EQ(view.id, (core::MessageId{kT0 / 1000, 0}));
    store_.unpin(result.message);
    EXPECT_FALSE(result.message);
}

TEST_F(StoreIdTest, EmptyContentTypeAndBodyAreKept) {
    store_.publish("g/a", "", "", "", {}, kT0);
    auto result = store_.subscribe(request("g/a", kT0));
    ASSERT_TRUE(result.message);
    EXPECT_EQ(store_.view(result.message).content_type, "");
    EXPECT_EQ(store_.view(result.message).body, "");
    store_.unpin(result.message);
}

class StoreSearchTest : public StoreTest {
  protected:
    void SetUp() override {
        // Ids: (s, 0) "a", (s, 1) "b", (s + 2, 0) "c".
        publish("g/a", "a", kT0);
        publish("g/a", "b", kT0 + 1);
        publish("g/a", "c", kT0 + 2000);
    }
    static constexpr std::int64_t kS = kT0 / 1000;
};

TEST_F(StoreSearchTest, NoSinceGivesTheOldest) {
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "a");
}

TEST_F(StoreSearchTest, SinceOlderThanTheOldestGivesTheOldest) {
    EXPECT_EQ(poll("g/a", core::MessageId{kS - 100, 7}, kT0), "a");
}

TEST_F(StoreSearchTest, SameSecondGreaterTagIsNext) {
    EXPECT_EQ(poll("g/a", core::MessageId{kS, 0}, kT0), "b");
}

TEST_F(StoreSearchTest, LaterSecondIsNextWhateverTheTag) {
    EXPECT_EQ(poll("g/a", core::MessageId{kS, 1}, kT0), "c");
    EXPECT_EQ(poll("g/a", core::MessageId{kS + 1, 99}, kT0), "c");
}

TEST_F(StoreSearchTest, NothingNewerIsNotHeldForIntervalPoll) {
    Store::SubscribeRequest r = request("g/a", kT0, core::MessageId{kS + 2, 0});
    r.hold = false;
    auto result = store_.subscribe(r);
    EXPECT_EQ(result.status, Status::Ok);
    EXPECT_FALSE(result.message);
    EXPECT_FALSE(result.held);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 0u);
}

TEST_F(StoreSearchTest, NothingNewerIsHeldForLongPoll) {
    auto result = store_.subscribe(request("g/a", kT0, core::MessageId{kS + 2, 0}, 3));
    EXPECT_EQ(result.status, Status::Ok);
    EXPECT_FALSE(result.message);
    EXPECT_TRUE(result.held);
    EXPECT_EQ(result.waiter_seq, 1u);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 1u);
    EXPECT_EQ(store_.stats().subscribers, 1u);
}

TEST_F(StoreSearchTest, FirstMessagePicksByPosition) {
    auto nth = [&](std::int32_t n, std::optional<core::MessageId> since = std::nullopt) {
        Store::SubscribeRequest r = request("g/a", kT0 + 2000, since);
        r.hold = false;
        r.first_message = n;
        Store::SubscribeResult result = store_.subscribe(r);
        return result.message ? take_body(result.message) : std::string();
    };
    EXPECT_EQ(nth(1), "a");
    EXPECT_EQ(nth(2), "b");
    EXPECT_EQ(nth(3), "c");
    EXPECT_EQ(nth(4), "a");  // fewer stored: the oldest
    EXPECT_EQ(nth(-1), "c");
    EXPECT_EQ(nth(-3), "a");
    EXPECT_EQ(nth(-4), "a");
    EXPECT_EQ(nth(-1, core::MessageId{kS, 0}), "b");  // a named message wins
}

TEST_F(StoreSearchTest, WaitForNewIgnoresTheQueue) {
    Store::SubscribeRequest r = request("g/a", kT0);
    r.wait_for_new = true;
    auto result = store_.subscribe(r);
    EXPECT_FALSE(result.message);
    EXPECT_TRUE(result.held);
}

TEST_F(StoreSearchTest, RequestsAreRecordedAsLastRequested) {
    EXPECT_EQ(store_.info("g/a", kT0)->last_requested_ms, -1);
    poll("g/a", std::nullopt, kT0 + 3000);
    EXPECT_EQ(store_.info("g/a", kT0 + 4000)->last_requested_ms, kT0 + 3000);
}

using StoreTrimTest = StoreTest;

TEST_F(StoreTrimTest, MaxBufferDropsTheOldest) {
    ChannelLimits limits{.min_buffer = 1, .max_buffer = 3};
    for (int i = 0; i < 5; ++i) {
        publish("g/a", std::to_string(i), kT0, limits);
    }
    EXPECT_EQ(messages_in("g/a", kT0), 3u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "2");
    EXPECT_EQ(store_.stats().messages, 3u);
}

TEST_F(StoreTrimTest, MinRecipientsDropsTheOldestOnceReceivedEnough) {
    ChannelLimits limits{.min_buffer = 1, .max_buffer = 10, .min_recipients = 2};
    publish("g/a", "a", kT0, limits);
    poll("g/a", std::nullopt, kT0);
    publish("g/a", "b", kT0, limits);
    EXPECT_EQ(messages_in("g/a", kT0), 2u) << "received once: kept";
    poll("g/a", std::nullopt, kT0);  // "a" again: received twice
    publish("g/a", "c", kT0, limits);
    EXPECT_EQ(messages_in("g/a", kT0), 2u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "b");
}

TEST_F(StoreTrimTest, MinRecipientsNeverGoesBelowMinBuffer) {
    ChannelLimits limits{.min_buffer = 2, .max_buffer = 10, .min_recipients = 1};
    publish("g/a", "a", kT0, limits);
    publish("g/a", "b", kT0, limits);
    poll("g/a", std::nullopt, kT0);
    poll("g/a", core::MessageId{kT0 / 1000, 0}, kT0);
    publish("g/a", "c", kT0, limits);
    EXPECT_EQ(messages_in("g/a", kT0), 2u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "b");
}

TEST_F(StoreTrimTest, DeleteOldestReceivedDropsOnDelivery) {
    ChannelLimits limits{.min_buffer = 1, .max_buffer = 10, .delete_oldest_received = true};
    publish("g/a", "a", kT0, limits);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "a");
    EXPECT_EQ(messages_in("g/a", kT0), 1u) << "at min_buffer: kept";
    auto held = store_.subscribe(request("g/a", kT0, core::MessageId{kT0 / 1000, 0}, 1));
    ASSERT_TRUE(held.held);
    publish("g/a", "b", kT0, limits);
    auto events = drain(1);
    ASSERT_EQ(events.size(), 1u);
    store_.record_delivery("g/a", held.uid, 1, 1, 1, events[0].message, kT0);
    EXPECT_EQ(messages_in("g/a", kT0), 1u) << "\"a\" was received and count exceeded min_buffer";
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "b");
    unpin_all(events);
}

TEST_F(StoreTrimTest, DeleteOldestReceivedKeepsAnUnreceivedOldest) {
    ChannelLimits limits{.min_buffer = 1, .max_buffer = 10, .delete_oldest_received = true};
    publish("g/a", "a", kT0, limits);
    auto held = store_.subscribe(request("g/a", kT0, core::MessageId{kT0 / 1000, 0}, 1));
    publish("g/a", "b", kT0, limits);
    auto events = drain(1);
    ASSERT_EQ(events.size(), 1u);
    store_.record_delivery("g/a", held.uid, 1, 1, 1, events[0].message, kT0);
    EXPECT_EQ(messages_in("g/a", kT0), 2u);
    unpin_all(events);
}

using StoreUnstoredTest = StoreTest;

TEST_F(StoreUnstoredTest, UnstoredMessageWithoutWaitersTakesNoSpaceButAnId) {
    ChannelLimits off{.store_messages = false};
    publish("g/a", "x", kT0, off);
    const std::uint64_t free_before = store_.stats().free;
    auto result = publish("g/a", "a much longer body than the first one", kT0, off);
    EXPECT_EQ(result.status, Status::Ok);
    EXPECT_EQ(result.id.tag, 1u);
    EXPECT_EQ(result.info.messages, 0u);
    EXPECT_EQ(result.wake_slots_mask, 0u);
    EXPECT_EQ(store_.stats().free, free_before);
}

TEST_F(StoreUnstoredTest, UnstoredMessageLivesOnlyInItsPins) {
    ChannelLimits off{.store_messages = false};
    auto held = store_.subscribe(request("g/a", kT0, std::nullopt, 2));
    ASSERT_TRUE(held.held);
    const std::uint64_t free_before = store_.stats().free;
    auto result = publish("g/a", std::string(10000, 'x'), kT0, off);
    EXPECT_EQ(result.wake_slots_mask, bit(2));
    EXPECT_EQ(result.info.messages, 0u);
    EXPECT_LT(store_.stats().free, free_before);
    auto events = drain(2);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(store_.view(events[0].message).body, std::string(10000, 'x'));
    store_.record_delivery("g/a", held.uid, 2, 1, 1, events[0].message, kT0);
    unpin_all(events);
    EXPECT_EQ(store_.stats().free, free_before);
    EXPECT_EQ(store_.stats().messages, 0u);
}

class StoreExpiryTest : public StoreTest {
  protected:
    bool exists(std::string_view key) { return store_.info(key, kT0).has_value(); }
};

// Channels a publisher made; one a subscriber made goes with its last waiter (StoreShareTest).
TEST_F(StoreExpiryTest, IdleChannelIsRemovedAfterChannelTimeout) {
    const ChannelLimits unstored{.channel_timeout_ms = 5000, .store_messages = false};
    publish("g/a", "a", kT0, unstored);
    store_.expire(kT0 + 4999);
    EXPECT_TRUE(exists("g/a"));
    store_.expire(kT0 + 5000);
    EXPECT_FALSE(exists("g/a"));
    EXPECT_EQ(store_.stats().channels, 0u);
}

TEST_F(StoreExpiryTest, ARequestRestartsTheIdleClock) {
    const ChannelLimits unstored{.channel_timeout_ms = 5000, .store_messages = false};
    publish("g/a", "a", kT0, unstored);
    Store::SubscribeRequest r = request("g/a", kT0 + 4000);
    r.hold = false;
    store_.subscribe(r);
    store_.expire(kT0 + 5000);
    EXPECT_TRUE(exists("g/a"));
    store_.expire(kT0 + 9000);
    EXPECT_FALSE(exists("g/a"));
}

// push_message_timeout beats push_min_message_buffer_length: the minimum only holds against
// count-based removal.
TEST_F(StoreExpiryTest, AnExpiredMessageIsNeitherServedNorCountedWhateverMinBuffer) {
    ChannelLimits limits{.min_buffer = 1, .message_timeout_ms = 1000, .channel_timeout_ms = 3000};
    const std::uint64_t uid = publish("g/a", "a", kT0, limits).uid;
    EXPECT_EQ(poll("g/a", std::nullopt, kT0 + 999), "a");
    // The timer has not run: the requests themselves must not see it.
    EXPECT_EQ(poll("g/a", std::nullopt, kT0 + 1000), "");
    EXPECT_FALSE(store_.find_next("g/a", uid, core::MessageId{0, 0}, kT0 + 1000).message);
    EXPECT_EQ(store_.info("g/a", kT0 + 1000)->messages, 0u);
    EXPECT_EQ(store_.stats().messages, 0u);
    EXPECT_EQ(store_.stats().delivered, 1u) << "only the receipt before expiry";
}

TEST_F(StoreExpiryTest, AChannelEmptiedByExpiryGoesAfterChannelTimeout) {
    ChannelLimits limits{.min_buffer = 1, .message_timeout_ms = 1000, .channel_timeout_ms = 3000};
    publish("g/a", "a", kT0, limits);
    publish("g/a", "b", kT0 + 500, limits);
    store_.expire(kT0 + 999);
    EXPECT_EQ(store_.stats().messages, 2u);
    store_.expire(kT0 + 1000);
    EXPECT_EQ(store_.stats().messages, 1u);
    store_.expire(kT0 + 1500);
    EXPECT_EQ(store_.stats().messages, 0u) << "the last message goes too: min_buffer does not hold";
    store_.expire(kT0 + 4499);
    EXPECT_EQ(store_.stats().channels, 1u);
    store_.expire(kT0 + 4500);
    EXPECT_EQ(store_.stats().channels, 0u);
}

TEST_F(StoreExpiryTest, ARequestOnAnExpiredChannelStartsItsIdleTime) {
    ChannelLimits limits{.min_buffer = 1, .message_timeout_ms = 1000, .channel_timeout_ms = 3000};
    publish("g/a", "a", kT0, limits);
    EXPECT_EQ(store_.info("g/a", kT0 + 2000)->messages, 0u);
    store_.expire(kT0 + 4999);
    EXPECT_TRUE(exists("g/a"));
    store_.expire(kT0 + 5000);
    EXPECT_FALSE(exists("g/a"));
}

// A message published with a shorter timeout than an older one (two publisher locations) expires
// behind it: it is found and dropped there, by requests and by the timer alike.
TEST_F(StoreExpiryTest, AMessageExpiringBeforeAnOlderOneIsNeitherServedNorCounted) {
    const ChannelLimits never{.message_timeout_ms = 0};
    const ChannelLimits brief{.message_timeout_ms = 1000};
    publish("g/a", "kept", kT0, never);             // id (s, 0)
    publish("g/a", "brief", kT0, brief);            // (s, 1), expires at kT0 + 1000
    publish("g/a", "brief too", kT0 + 100, brief);  // (s, 2), at kT0 + 1100
    publish("g/a", "kept too", kT0 + 200, never);   // (s, 3)
    EXPECT_EQ(messages_in("g/a", kT0 + 999), 4u);
    EXPECT_EQ(messages_in("g/a", kT0 + 1000), 3u);
    EXPECT_EQ(poll("g/a", core::MessageId{kT0 / 1000, 0}, kT0 + 1100), "kept too");
    EXPECT_EQ(messages_in("g/a", kT0 + 1100), 2u);
    EXPECT_TRUE(store_.check().empty());
}

TEST_F(StoreExpiryTest, TheTimerDropsAMessageExpiringBeforeAnOlderOne) {
    const ChannelLimits hour{.message_timeout_ms = 3'600'000};
    const ChannelLimits brief{.message_timeout_ms = 1000};
    publish("g/a", "hour", kT0, hour);
    publish("g/a", "brief", kT0, brief);
    publish("g/b", "brief", kT0 + 500, brief);
    store_.expire(kT0 + 999);
    EXPECT_EQ(store_.stats().messages, 3u);
    store_.expire(kT0 + 1000);
    EXPECT_EQ(store_.stats().messages, 2u) << "found behind \"hour\" without a request";
    EXPECT_TRUE(store_.check().empty());
    store_.expire(kT0 + 1500);
    EXPECT_EQ(store_.stats().messages, 1u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0 + 1500), "hour");
    store_.expire(kT0 + 3'600'000);
    EXPECT_EQ(store_.stats().messages, 0u);
    EXPECT_TRUE(store_.check().empty());
}

TEST_F(StoreExpiryTest, WithMinBufferZeroTheChannelGoesAfterItsMessages) {
    ChannelLimits limits{.min_buffer = 0, .message_timeout_ms = 1000, .channel_timeout_ms = 3000};
    publish("g/a", "a", kT0, limits);
    publish("g/a", "b", kT0 + 500, limits);
    store_.expire(kT0 + 1000);
    EXPECT_EQ(store_.stats().messages, 1u);
    store_.expire(kT0 + 1500);
    EXPECT_EQ(store_.stats().messages, 0u);
    store_.expire(kT0 + 4499);
    EXPECT_EQ(store_.stats().channels, 1u);
    store_.expire(kT0 + 4500);
    EXPECT_EQ(store_.stats().channels, 0u);
}

TEST_F(StoreExpiryTest, ZeroMessageTimeoutNeverExpires) {
    ChannelLimits limits{.message_timeout_ms = 0};
    publish("g/a", "a", kT0, limits);
    store_.expire(kT0 + 1'000'000'000);
    EXPECT_EQ(messages_in("g/a", kT0), 1u);
}

TEST_F(StoreExpiryTest, ExpiredMessagesAreNotServedBeforeTheTimerRuns) {
    ChannelLimits limits{.message_timeout_ms = 1000};
    publish("g/a", "a", kT0, limits);
    publish("g/a", "b", kT0 + 600, limits);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0 + 1200), "b");
    EXPECT_EQ(messages_in("g/a", kT0 + 1200), 1u);
}

TEST_F(StoreExpiryTest, AHeldWaiterKeepsAnEmptyChannel) {
    const ChannelLimits unstored{.store_messages = false};
    publish("g/a", "a", kT0, unstored);
    auto held = store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    store_.expire(kT0 + 60'000);
    EXPECT_TRUE(exists("g/a"));
    store_.release_waiters("g/a", held.uid, 1, 1, kT0 + 60'000);
    store_.expire(kT0 + 64'999);
    EXPECT_TRUE(exists("g/a"));
    store_.expire(kT0 + 65'000);
    EXPECT_FALSE(exists("g/a"));
}

TEST_F(StoreExpiryTest, ExpireIsANoOpWhenNothingIsDue) {
    publish("g/a", "a", kT0);
    const Store::Stats before = store_.stats();
    store_.expire(kT0 + 1);
    EXPECT_EQ(store_.stats().messages, before.messages);
    EXPECT_EQ(store_.stats().free, before.free);
}

using StoreSubscribeTest = StoreTest;

TEST_F(StoreSubscribeTest, ForbiddenWhenTheChannelIsAbsentAndMayNotBeCreated) {
    Store::SubscribeRequest r = request("g/a", kT0);
    r.create_channel = false;
    EXPECT_EQ(store_.subscribe(r).status, Status::Forbidden);
    EXPECT_FALSE(store_.info("g/a", kT0).has_value());
    publish("g/a", "a", kT0);
    auto result = store_.subscribe(r);
    EXPECT_EQ(result.status, Status::Ok);
    EXPECT_EQ(take_body(result.message), "a");
}

TEST_F(StoreSubscribeTest, SubscriberCreatesTheChannelWithItsLimits) {
    auto result = store_.subscribe(request("g/a", kT0));
    EXPECT_EQ(result.status, Status::Ok);
    EXPECT_NE(result.uid, 0u);
    EXPECT_TRUE(result.held);
    EXPECT_EQ(store_.stats().channels, 1u);
}

TEST_F(StoreSubscribeTest, TooManySubscribersIsCheckedBeforeAnything) {
    publish("g/a", "a", kT0);
    Store::SubscribeRequest r = request("g/a", kT0, core::MessageId{kT0 / 1000, 0});
    r.max_subscribers = 1;
    ASSERT_TRUE(store_.subscribe(r).held);
    EXPECT_EQ(store_.subscribe(r).status, Status::TooManySubscribers);
    r.since = std::nullopt;  // would match "a" at once: still refused
    auto refused = store_.subscribe(r);
    EXPECT_EQ(refused.status, Status::TooManySubscribers);
    EXPECT_FALSE(refused.message);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 1u);
}

TEST_F(StoreSubscribeTest, UidsAreNeverReused) {
    const std::uint64_t first = publish("g/a", "a", kT0).uid;
    store_.delete_channel("g/a", kT0);
    EXPECT_GT(publish("g/a", "a", kT0).uid, first);
}

using StoreConcurrencyTest = StoreTest;

TEST_F(StoreConcurrencyTest, FirstRefusesASecondWaiterAnywhere) {
    Store::SubscribeRequest r = request("g/a", kT0, std::nullopt, 0);
    r.concurrency = Store::Concurrency::First;
    ASSERT_TRUE(store_.subscribe(r).held);
    r.slot = 1;
    auto second = store_.subscribe(r);
    EXPECT_EQ(second.status, Status::Conflict);
    EXPECT_FALSE(second.held);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 1u);
}

TEST_F(StoreConcurrencyTest, FirstNeverConflictsWhenAnsweredAtOnce) {
    publish("g/a", "a", kT0);
    Store::SubscribeRequest r = request("g/a", kT0, core::MessageId{kT0 / 1000, 0});
    r.concurrency = Store::Concurrency::First;
    ASSERT_TRUE(store_.subscribe(r).held);
    r.since = std::nullopt;
    auto answered = store_.subscribe(r);
    EXPECT_EQ(answered.status, Status::Ok);
    EXPECT_EQ(take_body(answered.message), "a");
}

TEST_F(StoreConcurrencyTest, LastKicksEarlierWaitersOnEverySlotIncludingItsOwn) {
    Store::SubscribeRequest r = request("g/a", kT0, std::nullopt, 2);
    r.concurrency = Store::Concurrency::Last;
    auto first = store_.subscribe(r);
    EXPECT_EQ(first.kick_slots_mask, 0u);
    r.slot = 5;
    auto second = store_.subscribe(r);
    EXPECT_EQ(second.kick_slots_mask, bit(2));
    auto events = drain(2);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Store::Event::Kick);
    EXPECT_EQ(events[0].uid, first.uid);
    EXPECT_EQ(events[0].before_seq, second.waiter_seq);
    EXPECT_GT(second.waiter_seq, first.waiter_seq);
    EXPECT_FALSE(events[0].message);

    // The kicked worker releases its waiter; a third `last` kicks slot 5 (its own included).
    store_.release_waiters("g/a", first.uid, 2, 1, kT0);
    auto third = store_.subscribe(r);
    EXPECT_EQ(third.kick_slots_mask, bit(5));
    events = drain(5);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].before_seq, third.waiter_seq);
}

using StoreEventTest = StoreTest;

TEST_F(StoreEventTest, PublishedGoesOnlyToSlotsHoldingWaiters) {
    auto on1 = store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    store_.subscribe(request("g/a", kT0, std::nullopt, 4));
    store_.subscribe(request("g/other", kT0, std::nullopt, 6));
    auto result = publish("g/a", "hello", kT0);
    EXPECT_EQ(result.wake_slots_mask, bit(1) | bit(4));
    EXPECT_EQ(result.info.subscribers, 3u);
    auto events = drain(1);
    ASSERT_EQ(events.size(), 1u) << "one event per slot, not per waiter";
    EXPECT_EQ(events[0].kind, Store::Event::Published);
    EXPECT_EQ(events[0].uid, on1.uid);
    EXPECT_EQ(store_.view(events[0].message).body, "hello");
    EXPECT_EQ(store_.view(events[0].message).id, result.id);
    unpin_all(events);
    events = drain(4);
    EXPECT_EQ(events.size(), 1u);
    unpin_all(events);
    EXPECT_TRUE(drain(6).empty());
    EXPECT_TRUE(drain(0).empty());
}

TEST_F(StoreEventTest, DeletedGoesToHoldersAndForgetsTheirWaiters) {
    auto held = store_.subscribe(request("g/a", kT0, std::nullopt, 3));
    publish("g/b", "b", kT0);
    EXPECT_EQ(drain(3).size(), 0u);
    auto deleted = store_.delete_channel("g/a", kT0);
    EXPECT_EQ(deleted.status, Status::Ok);
    EXPECT_EQ(deleted.uid, held.uid);
    EXPECT_EQ(deleted.wake_slots_mask, bit(3));
    EXPECT_EQ(deleted.info.subscribers, 1u);
    auto events = drain(3);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Store::Event::Deleted);
    EXPECT_EQ(events[0].uid, held.uid);
    EXPECT_EQ(store_.stats().subscribers, 0u);
    EXPECT_EQ(store_.delete_channel("g/a", kT0).status, Status::NotFound);
}

TEST_F(StoreEventTest, DeleteReportsTheInfoBeforeDeletion) {
    publish("g/a", "a", kT0);
    publish("g/a", "b", kT0);
    auto deleted = store_.delete_channel("g/a", kT0);
    EXPECT_EQ(deleted.info.messages, 2u);
    EXPECT_FALSE(store_.info("g/a", kT0).has_value());
    EXPECT_EQ(store_.stats().messages, 0u);
}

using StoreWaiterTest = StoreTest;

TEST_F(StoreWaiterTest, ReleaseAndDeliveryCountsAreExact) {
    std::uint64_t uid = 0;
    for (int slot : {1, 1, 1, 2, 2}) {
        uid = store_.subscribe(request("g/a", kT0, std::nullopt, slot)).uid;
    }
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 5u);
    store_.release_waiters("g/a", uid, 1, 1, kT0);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 4u);

    auto result = publish("g/a", "m", kT0);
    EXPECT_EQ(result.wake_slots_mask, bit(1) | bit(2));
    auto events = drain(2);
    ASSERT_EQ(events.size(), 1u);
    store_.record_delivery("g/a", uid, 2, 2, 2, events[0].message, kT0);
    unpin_all(events);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 2u);
    EXPECT_EQ(store_.stats().delivered, 2u);
    EXPECT_EQ(store_.stats().subscribers, 2u);

    store_.release_waiters("g/a", uid + 1, 1, 2, kT0);  // stale uid: no-op
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 2u);
    store_.release_waiters("g/a", uid, 2, 1, kT0);  // slot 2 has none left: nothing to take
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 2u);
    store_.release_waiters("g/a", uid, 1, 5, kT0);  // more than slot 1 holds: stops at zero
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 0u);
    EXPECT_EQ(store_.stats().subscribers, 0u);
    events = drain(1);
    unpin_all(events);
}

TEST_F(StoreWaiterTest, RecordDeliveryForgetsOnlyTheWaitersItEnded) {
    const ChannelLimits limits{.min_buffer = 1, .min_recipients = 3};
    std::uint64_t uid = 0;
    for (int slot : {2, 2, 2, 1}) {
        uid = store_.subscribe(request("g/a", kT0, std::nullopt, slot)).uid;
    }
    publish("g/a", "m", kT0, limits);
    auto events = drain(2);
    ASSERT_EQ(events.size(), 1u);
    // Three of slot 2's waiters got it; one was one-shot, two are persistent.
    store_.record_delivery("g/a", uid, 2, 3, 1, events[0].message, kT0);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 3u);
    EXPECT_EQ(store_.stats().subscribers, 3u);
    EXPECT_EQ(store_.stats().delivered, 3u);
    // Persistent subscribers only: counted as deliveries, nobody forgotten.
    store_.record_delivery("g/a", uid, 2, 2, 0, events[0].message, kT0);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 3u);
    EXPECT_EQ(store_.stats().delivered, 5u);
    // A stale uid: the receipts and the total still count, the waiters are not touched.
    store_.record_delivery("g/a", uid + 1, 2, 1, 1, events[0].message, kT0);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 3u);
    EXPECT_EQ(store_.stats().delivered, 6u);
    unpin_all(events);
    auto on_slot_1 = drain(1);
    unpin_all(on_slot_1);
    // "m" was received 6 times, at least min_recipients: the next publish drops it.
    publish("g/a", "n", kT0, limits);
    EXPECT_EQ(messages_in("g/a", kT0), 1u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "n");
}

TEST_F(StoreWaiterTest, APersistentSubscriberTakesTheMatchThenTheBacklogAndStays) {
    const std::int64_t s = kT0 / 1000;
    for (const char* body : {"a", "b", "c"}) {
        publish("g/a", body, kT0);  // ids (s, 0), (s, 1), (s, 2)
    }
    Store::SubscribeRequest r = request("g/a", kT0, std::nullopt, 1);
    r.persistent = true;
    auto sub = store_.subscribe(r);
    ASSERT_EQ(sub.status, Status::Ok);
    EXPECT_TRUE(sub.held) << "registered although a message matched";
    EXPECT_EQ(sub.waiter_seq, 1u);
    EXPECT_EQ(sub.resume_after, (core::MessageId{s, 2}));
    EXPECT_EQ(take_body(sub.message), "a");
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 1u);
    EXPECT_EQ(store_.stats().delivered, 1u) << "the match counts as received";

    // The backlog: after the match, up to resume_after.
    core::MessageId since{s, 0};
    std::string backlog;
    while (since < sub.resume_after) {
        auto next = store_.find_next("g/a", sub.uid, since, kT0, 1);
        ASSERT_TRUE(next.message);
        since = store_.view(next.message).id;
        store_.record_delivery("g/a", sub.uid, 1, 1, 0, next.message, kT0);
        backlog += take_body(next.message);
    }
    EXPECT_EQ(backlog, "bc");
    EXPECT_TRUE(drain(1).empty()) << "nothing published since registration";

    // Everything newer comes as events, and delivering them does not end the subscriber.
    for (const char* body : {"d", "e"}) {
        EXPECT_EQ(publish("g/a", body, kT0).wake_slots_mask, bit(1));
        auto events = drain(1);
        ASSERT_EQ(events.size(), 1u);
        EXPECT_EQ(store_.view(events[0].message).body, body);
        store_.record_delivery("g/a", sub.uid, 1, 1, 0, events[0].message, kT0);
        unpin_all(events);
    }
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 1u);
    EXPECT_EQ(store_.stats().subscribers, 1u);
    EXPECT_EQ(store_.stats().delivered, 5u);

    store_.release_waiters("g/a", sub.uid, 1, 1, kT0);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 0u);
    EXPECT_EQ(store_.stats().subscribers, 0u);
}

TEST_F(StoreWaiterTest, APersistentSubscriberWithoutAMatchIsHeldWhateverHoldSays) {
    Store::SubscribeRequest r = request("g/a", kT0, std::nullopt, 1);
    r.persistent = true;
    r.hold = false;
    auto sub = store_.subscribe(r);
    EXPECT_TRUE(sub.held);
    EXPECT_FALSE(sub.message);
    EXPECT_EQ(sub.resume_after.time, -1) << "no message ever published";
    EXPECT_EQ(store_.stats().subscribers, 1u);
    EXPECT_EQ(store_.stats().delivered, 0u);
}

TEST_F(StoreWaiterTest, APersistentSubscriberRefusedTakesNothing) {
    publish("g/a", "a", kT0);
    Store::SubscribeRequest r = request("g/a", kT0, core::MessageId{kT0 / 1000, 0}, 1);
    r.concurrency = Store::Concurrency::First;
    ASSERT_TRUE(store_.subscribe(r).held);
    r.since = std::nullopt;
    r.persistent = true;
    r.slot = 2;
    auto refused = store_.subscribe(r);
    EXPECT_EQ(refused.status, Status::Conflict);
    EXPECT_FALSE(refused.message);
    EXPECT_FALSE(refused.held);
    EXPECT_EQ(store_.stats().delivered, 0u);
    EXPECT_EQ(store_.stats().subscribers, 1u);
    EXPECT_TRUE(store_.check().empty());
}

TEST_F(StoreWaiterTest, APersistentLastSubscriberKicksEarlierWaitersEvenWithAMatch) {
    publish("g/a", "a", kT0);
    Store::SubscribeRequest r = request("g/a", kT0, core::MessageId{kT0 / 1000, 0}, 1);
    r.concurrency = Store::Concurrency::Last;
    auto first = store_.subscribe(r);
    ASSERT_TRUE(first.held);
    r.since = std::nullopt;
    r.persistent = true;
    r.slot = 2;
    auto second = store_.subscribe(r);
    EXPECT_EQ(take_body(second.message), "a");
    EXPECT_TRUE(second.held);
    EXPECT_EQ(second.kick_slots_mask, bit(1));
    auto events = drain(1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Store::Event::Kick);
    EXPECT_EQ(events[0].before_seq, second.waiter_seq);
    EXPECT_EQ(store_.info("g/a", kT0)->subscribers, 2u) << "the kicked one until its release";
}

TEST_F(StoreWaiterTest, ImmediateAnswersCountAsDeliveries) {
    publish("g/a", "a", kT0);
    poll("g/a", std::nullopt, kT0);
    poll("g/a", std::nullopt, kT0);
    EXPECT_EQ(store_.stats().delivered, 2u);
    EXPECT_EQ(store_.stats().published, 1u);
}

TEST_F(StoreWaiterTest, FindNextResyncsFromAnId) {
    const std::uint64_t uid = publish("g/a", "a", kT0).uid;
    publish("g/a", "b", kT0);
    auto next = store_.find_next("g/a", uid, core::MessageId{kT0 / 1000, 0}, kT0);
    EXPECT_EQ(next.status, Status::Ok);
    EXPECT_EQ(next.kick_before_seq, 0u);
    EXPECT_EQ(take_body(next.message), "b");
    next = store_.find_next("g/a", uid, core::MessageId{kT0 / 1000, 1}, kT0);
    EXPECT_EQ(next.status, Status::Ok);
    EXPECT_FALSE(next.message);
}

TEST_F(StoreWaiterTest, AWaiterForNewMessagesResyncsFromItsRegistration) {
    publish("g/a", "old", kT0);
    Store::SubscribeRequest r = request("g/a", kT0, std::nullopt, 1);
    r.wait_for_new = true;
    auto held = store_.subscribe(r);
    ASSERT_TRUE(held.held);
    EXPECT_EQ(held.resume_after, (core::MessageId{kT0 / 1000, 0}));
    publish("g/a", "new", kT0);
    auto next = store_.find_next("g/a", held.uid, held.resume_after, kT0);
    EXPECT_EQ(take_body(next.message), "new");
    auto events = drain(1);
    unpin_all(events);
}

TEST_F(StoreWaiterTest, AWaiterOnANeverUsedChannelResyncsFromTheStart) {
    auto held = store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    publish("g/a", "first", kT0);
    auto next = store_.find_next("g/a", held.uid, held.resume_after, kT0);
    EXPECT_EQ(take_body(next.message), "first");
    auto events = drain(1);
    unpin_all(events);
}

TEST_F(StoreWaiterTest, FindNextTellsOfADeletedChannel) {
    const std::uint64_t uid = publish("g/a", "a", kT0).uid;
    store_.delete_channel("g/a", kT0);
    EXPECT_EQ(store_.find_next("g/a", uid, core::MessageId{0, 0}, kT0).status, Status::Gone);
    publish("g/a", "a", kT0);  // a new channel under the same key is not the one held
    auto next = store_.find_next("g/a", uid, core::MessageId{0, 0}, kT0);
    EXPECT_EQ(next.status, Status::Gone);
    EXPECT_FALSE(next.message);
}

TEST_F(StoreWaiterTest, FindNextTellsOfTheLatestKick) {
    Store::SubscribeRequest r = request("g/a", kT0, std::nullopt, 1);
    r.concurrency = Store::Concurrency::Last;
    store_.subscribe(r);
    auto last = store_.subscribe(r);
    auto next = store_.find_next("g/a", last.uid, core::MessageId{0, 0}, kT0);
    EXPECT_EQ(next.kick_before_seq, last.waiter_seq);
    auto events = drain(1);
    EXPECT_EQ(events.size(), 1u);
}

// doc/shm-layout.md, "The subscriber share".
class StoreShareTest : public StoreTest {
  protected:
    Store::SubscribeResult hold(std::string_view key, int slot = 0) {
        return store_.subscribe(request(key, kT0, std::nullopt, slot));
    }
    bool exists(std::string_view key) { return store_.info(key, kT0).has_value(); }
    void expect_consistent() {
        const std::vector<std::string> problems = store_.check();
        EXPECT_TRUE(problems.empty()) << problems.front();
    }
    static std::uint64_t footprint(std::string_view key) { return sizeof(Channel) + key.size(); }
};

TEST_F(StoreShareTest, AnIntervalPollOnAnAbsentChannelCreatesNothing) {
    hold("g/warm");  // the slot's mailbox, made once for good
    const Store::Stats before = store_.stats();
    Store::SubscribeRequest r = request("g/a", kT0);
    r.hold = false;
    const auto result = store_.subscribe(r);
    EXPECT_EQ(result.status, Status::Ok);
    EXPECT_EQ(result.uid, 0u);
    EXPECT_FALSE(result.message);
    EXPECT_FALSE(result.held);
    EXPECT_FALSE(exists("g/a"));
    EXPECT_EQ(store_.stats().free, before.free);
    r.create_channel = false;  // push_authorized_channels_only still refuses
    EXPECT_EQ(store_.subscribe(r).status, Status::Forbidden);
}

TEST_F(StoreShareTest, AChannelASubscriberMadeGoesWithItsLastWaiter) {
    const auto first = hold("g/a", 0);
    hold("g/a", 1);
    EXPECT_EQ(store_.stats().subscriber_bytes, footprint("g/a"));
    store_.release_waiters("g/a", first.uid, 0, 1, kT0);
    EXPECT_TRUE(exists("g/a"));
    store_.reset_slot(1, kT0);  // a worker that dies takes its waiters with it
    EXPECT_FALSE(exists("g/a"));
    EXPECT_EQ(store_.stats().subscriber_bytes, 0u);
    EXPECT_EQ(store_.stats().channels, 0u);
    expect_consistent();
}

TEST_F(StoreShareTest, APublishTakesTheChannelOutOfTheShare) {
    const auto held = hold("g/a");
    ChannelLimits unstored;
    unstored.store_messages = false;
    unstored.channel_timeout_ms = 5000;
    EXPECT_EQ(publish("g/a", "x", kT0, unstored).wake_slots_mask, 1u);
    EXPECT_EQ(store_.stats().subscriber_bytes, 0u);
    auto events = drain(0);
    ASSERT_EQ(events.size(), 1u);
    store_.record_delivery("g/a", held.uid, 0, 1, 1, events[0].message, kT0);
    unpin_all(events);
    // Published to, it now lives by push_channel_timeout like any channel.
    EXPECT_TRUE(exists("g/a"));
    store_.expire(kT0 + 5000);
    EXPECT_FALSE(exists("g/a"));
    expect_consistent();
}

TEST_F(StoreShareTest, TheShareBoundsCreatingNotJoiningNorPublishing) {
    store_.set_subscriber_share(footprint("g/a") + footprint("g/b"));
    const auto a = hold("g/a");
    ASSERT_TRUE(a.held);
    ASSERT_TRUE(hold("g/b").held);
    EXPECT_EQ(hold("g/c").status, Status::SubscriberShareFull);
    EXPECT_FALSE(exists("g/c"));
    EXPECT_TRUE(hold("g/a", 1).held);  // joining is not creating
    EXPECT_EQ(publish("g/d", "x", kT0).status, Status::Ok);
    EXPECT_EQ(store_.stats().subscriber_share, footprint("g/a") + footprint("g/b"));
    store_.release_waiters("g/a", a.uid, 0, 1, kT0);
    store_.release_waiters("g/a", a.uid, 1, 1, kT0);
    EXPECT_TRUE(hold("g/c").held);  // g/a went, and its bytes with it
    expect_consistent();
}

TEST(StoreStatusTest, EveryStatusIsDescribed) {
    for (Status status : {Status::Ok, Status::NotFound, Status::NoSpace, Status::Forbidden,
                          Status::TooManySubscribers, Status::Conflict, Status::Gone,
                          Status::SubscriberShareFull}) {
        EXPECT_FALSE(describe(status).empty());
    }
    EXPECT_NE(describe(Status::NoSpace), describe(Status::NotFound));
}

}  // namespace
}  // namespace pushrelay::shm
