// Redis mode's cache: wanting a channel, turning it live, inserting messages with Redis' ids,
// trimming, eviction from a full segment, and the relay's view of every channel.
// doc/shm-layout.md, "Redis mode's cache".
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {
namespace {

constexpr std::uint64_t kGen = 0x5f3e1d2c0b0a;
constexpr std::int64_t kSecond = 1'700'000'000;  // StoreTest::kT0, in seconds

core::MessageId id_at(std::uint32_t tag, std::int64_t second = kSecond) {
    return core::MessageId{second, tag};
}

class RemoteTest : public StoreTest {
  protected:
    explicit RemoteTest(std::size_t bytes = kSegmentBytes) : StoreTest(bytes) {}

    static Store::RemoteMessage message(std::string_view key, core::MessageId id,
                                        std::string_view body) {
        Store::RemoteMessage m;
        m.key = key;
        m.gen = kGen;
        m.id = id;
        m.content_type = "text/plain";
        m.body = body;
        m.ttl_ms = 60'000;
        return m;
    }

    Store::InsertResult insert(std::string_view key, core::MessageId id, std::string_view body) {
        return store_.insert_remote(message(key, id, body), kT0);
    }

    // A long-poll waiter for the next message on `slot`.
    Store::SubscribeResult hold(std::string_view key, int slot) {
        Store::SubscribeRequest r = request(key, kT0, std::nullopt, slot);
        r.wait_for_new = true;
        Store::SubscribeResult result = store_.subscribe(r);
        EXPECT_TRUE(result.held);
        return result;
    }

    Store::RemoteState state(std::string_view key) {
        auto found = store_.remote_state(key, kT0);
        EXPECT_TRUE(found.has_value()) << key;
        return found.value_or(Store::RemoteState{});
    }

    void expect_consistent() {
        const auto problems = store_.check();
        EXPECT_TRUE(problems.empty()) << problems.front();
    }
};

// ---- want_remote ----

TEST_F(RemoteTest, WantingAnAbsentChannelCreatesItNotLiveOutsideTheSubscriberShare) {
    const auto first = store_.want_remote("g/a", 1, {}, kT0);
    ASSERT_EQ(first.status, Status::Ok);
    EXPECT_NE(first.uid, 0u);
    EXPECT_FALSE(first.live);
    EXPECT_TRUE(first.first);

    const Store::RemoteState s = state("g/a");
    EXPECT_EQ(s.uid, first.uid);
    EXPECT_FALSE(s.live);
    EXPECT_EQ(s.gen, 0u);
    EXPECT_FALSE(s.newest.has_value());
    EXPECT_EQ(s.last_requested_ms, kT0);
    EXPECT_EQ(store_.stats().subscriber_bytes, 0u) << "the relay's entry, not a subscriber's";
    expect_consistent();
}

TEST_F(RemoteTest, OnlyTheFirstWantOfAChannelIsFirst) {
    const auto a = store_.want_remote("g/a", 1, {}, kT0);
    const auto b = store_.want_remote("g/a", 2, {}, kT0);
    const auto again = store_.want_remote("g/a", 1, {}, kT0);
    EXPECT_TRUE(a.first);
    EXPECT_FALSE(b.first);
    EXPECT_FALSE(again.first);
    EXPECT_EQ(b.uid, a.uid);
    EXPECT_EQ(again.uid, a.uid);
}

TEST_F(RemoteTest, WantingALiveChannelChangesNothing) {
    store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0);
    const auto want = store_.want_remote("g/a", 1, {}, kT0 + 500);
    EXPECT_TRUE(want.live);
    EXPECT_FALSE(want.first);
    EXPECT_EQ(want.uid, state("g/a").uid);
    EXPECT_EQ(state("g/a").last_requested_ms, -1) << "nothing recorded";
    EXPECT_EQ(store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0), 0u)
        << "a live channel's want marks no slot";
}

TEST_F(RemoteTest, WantingAChannelASubscriberMadeKeepsItAfterItsLastWaiter) {
    const auto held = hold("g/a", 1);
    ASSERT_GT(store_.stats().subscriber_bytes, 0u);
    store_.want_remote("g/a", 1, {}, kT0);
    EXPECT_EQ(store_.stats().subscriber_bytes, 0u);
    store_.release_waiters("g/a", held.uid, 1, 1, kT0);
    EXPECT_TRUE(store_.remote_state("g/a", kT0).has_value());
    expect_consistent();
}

TEST_F(RemoteTest, AWantedChannelNobodyUsesExpiresLikeAnyIdleChannel) {
    store_.want_remote("g/a", 1, {.channel_timeout_ms = 1000}, kT0);
    store_.expire(kT0 + 999);
    EXPECT_TRUE(store_.remote_state("g/a", kT0 + 999).has_value());
    store_.expire(kT0 + 1000);
    EXPECT_FALSE(store_.remote_state("g/a", kT0 + 1000).has_value());
}

// ---- set_remote_live ----

TEST_F(RemoteTest, TurningLivePostsLiveToTheWantingSlotsOnly) {
    hold("g/a", 3);  // waits on the channel, but never wanted it
    const std::uint64_t uid = store_.want_remote("g/a", 1, {}, kT0).uid;
    store_.want_remote("g/a", 2, {}, kT0);

    EXPECT_EQ(store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0), bit(1) | bit(2));
    for (const int slot : {1, 2}) {
        const std::vector<Store::Event> events = drain(slot);
        ASSERT_EQ(events.size(), 1u) << "slot " << slot;
        EXPECT_EQ(events[0].kind, Store::Event::Live);
        EXPECT_EQ(events[0].uid, uid);
        EXPECT_FALSE(events[0].message);
    }
    EXPECT_TRUE(drain(3).empty());
    EXPECT_EQ(store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0), 0u)
        << "the wants were cleared";

    const Store::RemoteState s = state("g/a");
    EXPECT_TRUE(s.live);
    EXPECT_EQ(s.gen, kGen);
    expect_consistent();
}

TEST_F(RemoteTest, TurningLiveSeedsTheLastIdAndASubscriberAtItWaits) {
    store_.set_remote_live("g/a", kGen, id_at(5), {}, kT0);
    EXPECT_EQ(state("g/a").newest, id_at(5));

    Store::SubscribeRequest r = request("g/a", kT0, id_at(5), 1);
    const Store::SubscribeResult result = store_.subscribe(r);
    EXPECT_FALSE(result.message);
    EXPECT_TRUE(result.held);
    EXPECT_EQ(result.resume_after, id_at(5));
}

TEST_F(RemoteTest, TheLastIdNeverGoesBack) {
    store_.set_remote_live("g/a", kGen, id_at(5), {}, kT0);
    store_.set_remote_live("g/a", kGen, id_at(1), {}, kT0);
    EXPECT_EQ(state("g/a").newest, id_at(5));
    EXPECT_EQ(insert("g/a", id_at(5), "x").status, Store::InsertStatus::Duplicate);
    EXPECT_EQ(insert("g/a", id_at(6), "x").status, Store::InsertStatus::Inserted);
    EXPECT_EQ(publish("g/a", "local", kT0).id, id_at(7)) << "a local id continues from Redis'";
}

// ---- insert_remote ----

TEST_F(RemoteTest, AnInsertKeepsTheIdRedisGaveAndTheGeneration) {
    const auto result = insert("g/a", id_at(7, kSecond - 100), "first");
    ASSERT_EQ(result.status, Store::InsertStatus::Inserted);

    Store::SubscribeRequest r = request("g/a", kT0);
    r.hold = false;
    Store::SubscribeResult found = store_.subscribe(r);
    ASSERT_TRUE(found.message);
    EXPECT_EQ(store_.view(found.message).id, id_at(7, kSecond - 100));
    EXPECT_EQ(take_body(found.message), "first");

    const Store::RemoteState s = state("g/a");
    EXPECT_EQ(s.uid, result.uid);
    EXPECT_FALSE(s.live) << "a channel an insert creates is not live";
    EXPECT_EQ(s.gen, kGen);
    EXPECT_EQ(s.newest, id_at(7, kSecond - 100));
    EXPECT_EQ(s.messages, 1u);
    expect_consistent();
}

TEST_F(RemoteTest, AnIdNotLaterThanTheLastIsADuplicateAndChangesNothing) {
    ASSERT_EQ(insert("g/a", id_at(7), "7").status, Store::InsertStatus::Inserted);
    for (const core::MessageId old : {id_at(7), id_at(6), id_at(9, kSecond - 1)}) {
        const auto result = insert("g/a", old, "again");
        EXPECT_EQ(result.status, Store::InsertStatus::Duplicate);
        EXPECT_EQ(result.wake_slots_mask, 0u);
    }
    EXPECT_EQ(state("g/a").messages, 1u);
    EXPECT_EQ(state("g/a").newest, id_at(7));
    EXPECT_EQ(store_.stats().published, 0u) << "inserts are not local publishes";
}

TEST_F(RemoteTest, AnotherGenerationIsRefused) {
    ASSERT_EQ(insert("g/a", id_at(1), "1").status, Store::InsertStatus::Inserted);
    Store::RemoteMessage m = message("g/a", id_at(2), "2");
    m.gen = kGen + 1;
    EXPECT_EQ(store_.insert_remote(m, kT0).status, Store::InsertStatus::StaleGen);
    EXPECT_EQ(state("g/a").messages, 1u);
    EXPECT_EQ(state("g/a").newest, id_at(1));
}

TEST_F(RemoteTest, AnInsertWakesEveryWaitingSlotWithItsOwnPin) {
    const std::uint64_t uid = hold("g/a", 1).uid;
    hold("g/a", 1);
    hold("g/a", 2);
    const auto result = insert("g/a", id_at(3), "news");
    EXPECT_EQ(result.uid, uid);
    EXPECT_EQ(result.wake_slots_mask, bit(1) | bit(2));
    for (const int slot : {1, 2}) {
        std::vector<Store::Event> events = drain(slot);
        ASSERT_EQ(events.size(), 1u) << "one event per slot, whatever its waiters";
        EXPECT_EQ(events[0].kind, Store::Event::Published);
        EXPECT_EQ(events[0].uid, uid);
        ASSERT_TRUE(events[0].message);
        EXPECT_EQ(store_.view(events[0].message).id, id_at(3));
        EXPECT_EQ(store_.view(events[0].message).body, "news");
        unpin_all(events);
    }
    EXPECT_TRUE(drain(0).empty());
    expect_consistent();
}

TEST_F(RemoteTest, AnUnstoredInsertIsDeliveredButNotKept) {
    hold("g/a", 1);
    Store::RemoteMessage m = message("g/a", id_at(3), "passing");
    m.store = false;
    EXPECT_EQ(store_.insert_remote(m, kT0).wake_slots_mask, bit(1));
    std::vector<Store::Event> events = drain(1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(store_.view(events[0].message).body, "passing");
    unpin_all(events);
    EXPECT_EQ(state("g/a").messages, 0u);
    EXPECT_EQ(state("g/a").newest, id_at(3)) << "its id is consumed all the same";
    expect_consistent();
}

TEST_F(RemoteTest, AnInsertTrimsByTheLimitsItCarries) {
    for (std::uint32_t tag = 1; tag <= 4; ++tag) {
        const std::string body = std::to_string(tag);
        Store::RemoteMessage m = message("g/a", id_at(tag), body);
        m.limits.max_buffer = 2;
        ASSERT_EQ(store_.insert_remote(m, kT0).status, Store::InsertStatus::Inserted);
    }
    EXPECT_EQ(state("g/a").messages, 2u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "3");
}

TEST_F(RemoteTest, AnInsertDropsWhatRedisTrimmed) {
    for (std::uint32_t tag = 1; tag <= 3; ++tag) {
        insert("g/a", id_at(tag), std::to_string(tag));
    }
    Store::RemoteMessage m = message("g/a", id_at(4), "4");
    m.oldest_kept = id_at(3);
    ASSERT_EQ(store_.insert_remote(m, kT0).status, Store::InsertStatus::Inserted);
    EXPECT_EQ(state("g/a").messages, 2u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "3");
}

TEST_F(RemoteTest, AnInsertedMessageExpiresByItsTtl) {
    Store::RemoteMessage m = message("g/a", id_at(1), "brief");
    m.ttl_ms = 1000;
    store_.insert_remote(m, kT0);
    m.id = id_at(2);
    m.ttl_ms = 0;
    m.body = "never";
    store_.insert_remote(m, kT0);
    EXPECT_EQ(store_.remote_state("g/a", kT0 + 999)->messages, 2u);
    EXPECT_EQ(store_.remote_state("g/a", kT0 + 1000)->messages, 1u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0 + 86'400'000), "never");
}

// ---- trim_remote, set_remote_not_live ----

TEST_F(RemoteTest, TrimDropsOlderMessagesOfItsGenerationOnly) {
    for (std::uint32_t tag = 1; tag <= 4; ++tag) {
        insert("g/a", id_at(tag), std::to_string(tag));
    }
    store_.trim_remote("g/a", kGen + 1, std::nullopt, kT0);
    EXPECT_EQ(state("g/a").messages, 4u) << "another generation's trim";
    store_.trim_remote("g/a", kGen, id_at(3), kT0);
    EXPECT_EQ(state("g/a").messages, 2u);
    EXPECT_EQ(poll("g/a", std::nullopt, kT0), "3");
    store_.trim_remote("g/a", kGen, std::nullopt, kT0);
    EXPECT_EQ(state("g/a").messages, 0u);
    EXPECT_EQ(state("g/a").newest, id_at(4)) << "trimming never lowers the last id";
    store_.trim_remote("g/absent", kGen, std::nullopt, kT0);
    EXPECT_FALSE(store_.remote_state("g/absent", kT0).has_value());
    expect_consistent();
}

TEST_F(RemoteTest, LosingSyncEndsLiveness) {
    store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0);
    store_.set_remote_not_live("g/a");
    EXPECT_FALSE(state("g/a").live);
    EXPECT_FALSE(store_.want_remote("g/a", 1, {}, kT0).live);
    store_.set_remote_not_live("g/absent");
    EXPECT_FALSE(store_.remote_state("g/absent", kT0).has_value());
}

// ---- deletion and dead slots ----

TEST_F(RemoteTest, DeletingAWantedChannelTellsTheWantingSlots) {
    hold("g/a", 1);
    const std::uint64_t uid = store_.want_remote("g/a", 1, {}, kT0).uid;
    store_.want_remote("g/a", 2, {}, kT0);
    EXPECT_EQ(store_.delete_channel("g/a", kT0).wake_slots_mask, bit(1) | bit(2));
    for (const int slot : {1, 2}) {
        const std::vector<Store::Event> events = drain(slot);
        ASSERT_EQ(events.size(), 1u) << "once each, slot " << slot;
        EXPECT_EQ(events[0].kind, Store::Event::Deleted);
        EXPECT_EQ(events[0].uid, uid);
    }
}

TEST_F(RemoteTest, ADeadSlotsWantsAreForgotten) {
    store_.want_remote("g/a", 1, {}, kT0);
    store_.want_remote("g/a", 2, {}, kT0);
    store_.reset_slot(1, kT0);
    EXPECT_EQ(store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0), bit(2));
    expect_consistent();
}

// ---- remote_state, visit_remote ----

TEST_F(RemoteTest, TheStateSaysWhatTheRelayNeeds) {
    store_.want_remote("g/a", 1, {}, kT0 - 20);
    store_.set_remote_live("g/a", kGen, id_at(2), {}, kT0);
    insert("g/a", id_at(3), "3");
    insert("g/a", id_at(4), "4");
    hold("g/a", 1);
    hold("g/a", 2);
    const Store::RemoteState s = state("g/a");
    EXPECT_TRUE(s.live);
    EXPECT_EQ(s.gen, kGen);
    EXPECT_EQ(s.newest, id_at(4));
    EXPECT_EQ(s.waiters_total, 2u);
    EXPECT_EQ(s.last_requested_ms, kT0);
    EXPECT_EQ(s.messages, 2u);
    EXPECT_FALSE(store_.remote_state("g/absent", kT0).has_value());
}

TEST_F(RemoteTest, TheVisitSeesEveryChannelInKeyOrder) {
    store_.set_remote_live("g/b", kGen, id_at(9), {}, kT0);
    insert("g/a", id_at(1), "1");
    store_.want_remote("g/c", 1, {}, kT0);
    std::vector<std::pair<std::string, Store::RemoteState>> seen;
    store_.visit_remote(
        [&](const Store::RemoteState& s, std::string_view key) { seen.emplace_back(key, s); });
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].first, "g/a");
    EXPECT_EQ(seen[0].second.messages, 1u);
    EXPECT_FALSE(seen[0].second.live);
    EXPECT_EQ(seen[1].first, "g/b");
    EXPECT_TRUE(seen[1].second.live);
    EXPECT_EQ(seen[1].second.newest, id_at(9));
    EXPECT_EQ(seen[2].first, "g/c");
    EXPECT_EQ(seen[2].second.last_requested_ms, kT0);
    EXPECT_FALSE(seen[2].second.newest.has_value());
}

TEST_F(RemoteTest, TheVisitorMayCallTheStore) {
    Watchdog watchdog(10);
    store_.set_remote_live("g/a", kGen, std::nullopt, {}, kT0);
    store_.set_remote_live("g/b", kGen, std::nullopt, {}, kT0);
    int visited = 0;
    store_.visit_remote([&](const Store::RemoteState&, std::string_view key) {
        store_.set_remote_not_live(key);
        ++visited;
    });
    EXPECT_EQ(visited, 2);
    EXPECT_FALSE(state("g/a").live);
    EXPECT_FALSE(state("g/b").live);
}

TEST_F(RemoteTest, TheVisitCrossesManyBatchesAndLongKeys) {
    const std::string long_key = "g/m" + std::string(100'000, 'x');
    std::vector<std::string> keys{long_key};
    for (int i = 0; i < 700; ++i) {
        char key[16];
        std::snprintf(key, sizeof key, "g/%04d", i);
        keys.emplace_back(key);
    }
    for (const std::string& key : keys) {
        ASSERT_EQ(store_.want_remote(key, 1, {}, kT0).status, Status::Ok);
    }
    std::vector<std::string> seen;
    store_.visit_remote(
        [&](const Store::RemoteState&, std::string_view key) { seen.emplace_back(key); });
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(seen, keys);
}

// ---- a full segment ----

class RemoteNoSpaceTest : public RemoteTest {
  protected:
    RemoteNoSpaceTest() : RemoteTest(1 << 20) {}

    static std::string big(char c) { return std::string(16 << 10, c); }

    // Publishes 16 KiB messages to `key` until the segment refuses one; returns how many fit.
    int fill(std::string_view key) {
        const ChannelLimits many{.max_buffer = 100000};
        for (int i = 0;; ++i) {
            const auto result = publish(key, big('f'), kT0, many);
            if (result.status == Status::NoSpace) {
                return i;
            }
            EXPECT_EQ(result.status, Status::Ok);
        }
    }

    Store::InsertResult insert_big(std::string_view key, std::uint32_t tag) {
        const std::string body = big('n');  // the message views it: it must outlive the insert
        Store::RemoteMessage m = message(key, id_at(tag, kSecond + 100), body);
        m.limits.max_buffer = 100000;
        return store_.insert_remote(m, kT0);
    }
};

TEST_F(RemoteNoSpaceTest, AFullSegmentEvictsTheCachesNoWaiterNeeds) {
    store_.set_remote_live("g/waited", kGen, std::nullopt, {}, kT0);
    store_.set_remote_live("g/idle", kGen, std::nullopt, {}, kT0);
    hold("g/waited", 1);
    ASSERT_EQ(insert_big("g/waited", 1).status, Store::InsertStatus::Inserted);
    ASSERT_GT(fill("g/idle"), 10);

    const auto result = insert_big("g/waited", 2);
    EXPECT_EQ(result.status, Store::InsertStatus::Inserted);
    EXPECT_EQ(result.wake_slots_mask, bit(1));
    const Store::RemoteState waited = state("g/waited");
    EXPECT_EQ(waited.messages, 2u) << "a channel with waiters keeps its messages";
    EXPECT_TRUE(waited.live);
    const Store::RemoteState idle = state("g/idle");
    EXPECT_EQ(idle.messages, 0u);
    EXPECT_FALSE(idle.live) << "an evicted cache has a gap";
    std::vector<Store::Event> events = drain(1);
    unpin_all(events);
    expect_consistent();
}

TEST_F(RemoteNoSpaceTest, EvictionMakesRoomForANewChannelToo) {
    ASSERT_GT(fill("g/idle"), 10);
    EXPECT_EQ(insert_big("g/new", 1).status, Store::InsertStatus::Inserted);
    EXPECT_EQ(state("g/new").messages, 1u);
    expect_consistent();
}

TEST_F(RemoteNoSpaceTest, WhenEvictionIsNotEnoughNothingChanges) {
    hold("g/waited", 1);
    ASSERT_GT(fill("g/waited"), 10);
    std::vector<Store::Event> events = drain(1);
    unpin_all(events);
    const Store::RemoteState before = state("g/waited");

    EXPECT_EQ(insert_big("g/waited", 1).status, Store::InsertStatus::NoSpace);
    const Store::RemoteState after = state("g/waited");
    EXPECT_EQ(after.messages, before.messages);
    EXPECT_EQ(after.newest, before.newest);
    EXPECT_EQ(insert_big("g/new", 1).status, Store::InsertStatus::NoSpace);
    EXPECT_FALSE(store_.remote_state("g/new", kT0).has_value());
    EXPECT_TRUE(drain(1).empty()) << "nobody was told of a message that is not there";
    expect_consistent();
}

// A K frame from another node: every waiter held here goes, on every slot holding one.
TEST_F(RemoteTest, KickRemoteKicksEveryWaiterHeldHere) {
    EXPECT_EQ(store_.kick_remote("absent"), 0u);
    const Store::SubscribeResult first = hold("k", 1);
    const Store::SubscribeResult second = hold("k", 2);
    EXPECT_EQ(store_.kick_remote("k"), (1u << 1) | (1u << 2));
    for (int slot : {1, 2}) {
        const std::vector<Store::Event> events = drain(slot);
        ASSERT_EQ(events.size(), 1u) << slot;
        EXPECT_EQ(events[0].kind, Store::Event::Kick);
        EXPECT_EQ(events[0].uid, first.uid);
        EXPECT_GT(events[0].before_seq, second.waiter_seq);  // both waiters are before it
    }
    expect_consistent();
}

}  // namespace
}  // namespace pushrelay::shm
