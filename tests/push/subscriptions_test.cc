// The waiter accounting of push::Subscriptions: after every way a subscription ends, the broker's
// count of this worker's waiters is exact, and the client was told what that ending says.
#include "push/subscriptions.h"

#include "push/multiplex.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

namespace pushrelay::push {
namespace {

// A broker that only counts: waiters per channel uid, deliveries, and what find_next returns.
class CountingBroker final : public broker::Broker {
  public:
    std::map<std::uint64_t, std::int64_t> waiters;
    std::uint64_t delivered = 0;
    std::vector<broker::Message> stored;  // for find_next, oldest first
    // For find_next on one channel uid, instead of `stored`.
    std::map<std::uint64_t, std::vector<broker::Message>> stored_on;
    bool gone = false;
    std::uint64_t kick_before_seq = 0;
    core::SubscriberCounts held{};  // as set_held() last said
    std::vector<broker::SubscribeRequest> subscribed;
    std::vector<std::string> subscribed_keys;
    std::uint64_t next_uid = 1000;

    broker::PublishResult publish(std::string_view, std::string_view, std::string_view,
                                  std::string_view, const core::ChannelLimits&) override {
        return {};
    }
    broker::DeleteResult delete_channel(std::string_view) override { return {}; }
    std::optional<core::ChannelInfo> info(std::string_view) override { return std::nullopt; }
    // A registration on a channel created anew (a rejoin after a deletion): uids from 1000 on.
    broker::SubscribeResult subscribe(const broker::SubscribeRequest& request) override {
        subscribed.push_back(request);
        subscribed.back().key = {};  // the caller's key is gone after the call
        subscribed_keys.emplace_back(request.key);
        broker::SubscribeResult result;
        result.channel = {std::string(request.key), next_uid++};
        result.waiting = true;
        waiters[result.channel.uid]++;
        return result;
    }
    void unsubscribe(const broker::ChannelRef& channel, std::uint32_t n) override {
        waiters[channel.uid] -= n;
    }
    void record_delivery(const broker::ChannelRef& channel, const broker::Message&, std::uint32_t n,
                         std::uint32_t ended) override {
        EXPECT_LE(ended, n);
        delivered += n;
        waiters[channel.uid] -= ended;
    }
    broker::NextResult find_next(const broker::ChannelRef& channel,
                                 core::MessageId since) override {
        broker::NextResult next{gone ? core::Status::Gone : core::Status::Ok, std::nullopt,
                                kick_before_seq};
        auto own = stored_on.find(channel.uid);
        for (const broker::Message& m : own != stored_on.end() ? own->second : stored) {
            if (m.id > since) {
                next.message = m;
                delivered++;
                break;
            }
        }
        return next;
    }
    void set_listener(broker::Listener*) override {}
    void dispatch_events() override {}
    void expire() override {}
    broker::Stats stats() override { return {}; }
    void set_held(core::SubscriberKind kind, std::uint32_t n) override {
        held[static_cast<std::size_t>(kind)] = n;
    }
    void count_grip_items(std::uint64_t) override {}
    void count_grip_rerequest() override {}
    void count_grip_origin_error() override {}
    core::Status sequence_grip(std::string_view, const broker::SequenceStep&) override {
        return core::Status::Ok;
    }
    std::size_t sequence_grip_due(std::int64_t, const broker::SequenceStep&) override { return 0; }
    std::string grip_sequence_state(std::string_view) override { return {}; }
    std::int64_t next_grip_wake() override { return INT64_MAX; }
    void announce_grip_recover() override {}
    std::int64_t now_ms() const override { return 0; }
};

// What a client was told.
struct Log {
    std::vector<core::MessageId> messages;
    std::vector<std::string> tags;  // Payload::tags of each message
    std::vector<Ending> finishes;
    int destroyed = 0;
};

class FakeTransport final : public Subscription {
  public:
    FakeTransport(Log& log, bool one_shot) : log_(log), one_shot_(one_shot) {}
    ~FakeTransport() override { log_.destroyed++; }
    bool one_shot() const override { return one_shot_; }
    bool outlives_reload() const override { return stays_through_reload; }
    bool outlives_delete() const override { return stays_through_delete; }
    core::SubscriberKind kind() const override {
        return one_shot_ ? core::SubscriberKind::LongPoll : core::SubscriberKind::EventSource;
    }
    void deliver(const Payload& payload, DeliveryHeads&) override {
        log_.messages.push_back(payload.id);
        log_.tags.push_back(payload.tags);
    }
    void finish(Ending why) override { log_.finishes.push_back(why); }
    using Subscription::client_gone;

    bool stays_through_reload = false;  // as a GRIP hold
    bool stays_through_delete = false;

  private:
    Log& log_;
    bool one_shot_;
};

broker::Message message(std::int64_t time, std::uint32_t tag) {
    return {{time, tag}, "text/plain", "", std::make_shared<const std::string>("m"), 7, nullptr};
}

struct SubscriptionsTest : ::testing::Test {
    SubscriptionsTest() : loop(ev_loop_new(EVFLAG_AUTO)) {}
    ~SubscriptionsTest() override { ev_loop_destroy(loop); }

    // Registers a waiter the way the broker's subscribe() would have counted it.
    FakeTransport* add(Subscriptions& subs, std::uint64_t uid, bool one_shot, std::uint64_t seq = 1,
                       core::MessageId since = {0, 0}, conf::Millis timeout = conf::Millis(0)) {
        broker.waiters[uid]++;
        auto t = std::make_unique<FakeTransport>(log, one_shot);
        FakeTransport* raw = t.get();
        subs.add(std::move(t), {"/ch" + std::to_string(uid), uid}, seq, since, timeout);
        return raw;
    }

    struct ev_loop* loop;
    CountingBroker broker;
    Log log;
};

TEST_F(SubscriptionsTest, DeliveryEndsOneShotsAndKeepsPersistentOnes) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    add(subs, 1, true);
    add(subs, 1, false);
    subs.on_message(1, message(10, 0));
    EXPECT_EQ(broker.delivered, 3u);
    EXPECT_EQ(broker.waiters[1], 1);  // the persistent one still waits
    EXPECT_EQ(subs.size(), 1u);
    subs.on_message(1, message(10, 1));
    EXPECT_EQ(broker.delivered, 4u);
    EXPECT_EQ(log.messages.size(), 4u);
    EXPECT_EQ(broker.waiters[1], 1);
}

TEST_F(SubscriptionsTest, HeldCountsByKindFollowEveryEnding) {
    Subscriptions subs(broker, loop);
    auto held = [&](core::SubscriberKind kind) {
        return broker.held[static_cast<std::size_t>(kind)];
    };
    add(subs, 1, true);
    add(subs, 1, false);
    FakeTransport* leaving = add(subs, 2, false);
    EXPECT_EQ(held(core::SubscriberKind::LongPoll), 1u);
    EXPECT_EQ(held(core::SubscriberKind::EventSource), 2u);
    subs.on_message(1, message(10, 0));  // the long-poll is answered, the stream stays
    EXPECT_EQ(held(core::SubscriberKind::LongPoll), 0u);
    EXPECT_EQ(held(core::SubscriberKind::EventSource), 2u);
    leaving->client_gone();
    EXPECT_EQ(held(core::SubscriberKind::EventSource), 1u);
    subs.on_deleted(1);
    EXPECT_EQ(held(core::SubscriberKind::EventSource), 0u);
}

TEST_F(SubscriptionsTest, OnlyMessagesAfterTheStartingPointAreDelivered) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true, 1, {10, 5});
    subs.on_message(1, message(10, 5));
    EXPECT_TRUE(log.messages.empty());
    EXPECT_EQ(broker.waiters[1], 1);
    subs.on_message(1, message(10, 6));
    EXPECT_EQ(log.messages.size(), 1u);
    EXPECT_EQ(broker.waiters[1], 0);
}

TEST_F(SubscriptionsTest, DeletionAnswers410AndLeavesTheCountToTheBroker) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    add(subs, 1, false);
    broker.waiters[1] = 0;  // the deletion itself forgot them
    subs.on_deleted(1);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Deleted, Ending::Deleted}));
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(subs.size(), 0u);
    EXPECT_EQ(log.destroyed, 2);
}

TEST_F(SubscriptionsTest, DeletionLeavesWhatOutlivesItWaitingOnTheChannelCreatedAnew) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    add(subs, 1, false);
    add(subs, 1, false)->stays_through_delete = true;
    broker.waiters[1] = 0;  // the deletion itself forgot them
    subs.on_deleted(1);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Deleted, Ending::Deleted}));
    ASSERT_EQ(broker.subscribed.size(), 1u);
    EXPECT_EQ(broker.subscribed_keys[0], "/ch1");
    EXPECT_TRUE(broker.subscribed[0].wait_for_new && broker.subscribed[0].persistent);
    EXPECT_FALSE(broker.subscribed[0].limits_if_created.store_messages);
    EXPECT_EQ(broker.waiters[1000], 1);
    EXPECT_EQ(subs.size(), 1u);
    subs.on_message(1000, message(10, 0));  // it waits on the new channel
    EXPECT_EQ(log.messages.size(), 1u);
}

TEST_F(SubscriptionsTest, KickEndsOnlyOlderWaitersAndReleasesThem) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true, 1);
    add(subs, 1, true, 2);
    add(subs, 1, true, 3);
    subs.on_kick(1, 3);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Kicked, Ending::Kicked}));
    EXPECT_EQ(broker.waiters[1], 1);
    EXPECT_EQ(subs.size(), 1u);
}

TEST_F(SubscriptionsTest, ClientGoneReleasesWithoutAnAnswer) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = add(subs, 1, true);
    add(subs, 1, true);
    t->client_gone();
    EXPECT_TRUE(log.finishes.empty());
    EXPECT_EQ(broker.waiters[1], 1);
    EXPECT_EQ(subs.size(), 1u);
}

TEST_F(SubscriptionsTest, TimeoutAnswersAndReleases) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true, 1, {0, 0}, conf::Millis(1));
    // The timer is the only watcher: the loop returns once it has fired.
    ev_run(loop, 0);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::TimedOut}));
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(subs.size(), 0u);
}

TEST_F(SubscriptionsTest, TimeoutsOfSeveralValuesEachEndOnce) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true, 1, {0, 0}, conf::Millis(30));
    FakeTransport* gone = add(subs, 1, true, 2, {0, 0}, conf::Millis(2));
    add(subs, 2, true, 3, {0, 0}, conf::Millis(2));
    add(subs, 2, true, 4, {0, 0});  // no timeout
    gone->client_gone();
    // The loop returns when the timer is no longer needed: both timed ones have ended.
    ev_run(loop, 0);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::TimedOut, Ending::TimedOut}));
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(broker.waiters[2], 1);
    EXPECT_EQ(subs.size(), 1u);
}

TEST_F(SubscriptionsTest, StopAllAnswersEveryChannelAndReleases) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    add(subs, 2, false);
    add(subs, 3, true);
    subs.stop_all(Ending::Stopping);
    EXPECT_EQ(log.finishes.size(), 3u);
    for (Ending e : log.finishes) EXPECT_EQ(e, Ending::Stopping);
    for (auto& [uid, n] : broker.waiters) EXPECT_EQ(n, 0) << "channel " << uid;
}

TEST_F(SubscriptionsTest, AReloadKeepsWhatOutlivesItAndAStopEndsEverything) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    add(subs, 1, false)->stays_through_reload = true;
    add(subs, 2, false)->stays_through_reload = true;
    subs.stop_all(Ending::Restarting);
    EXPECT_EQ(log.finishes, std::vector<Ending>{Ending::Restarting});
    EXPECT_EQ(subs.size(), 2u);
    EXPECT_EQ(broker.waiters[1], 1);
    EXPECT_EQ(broker.waiters[2], 1);
    subs.on_message(2, message(10, 0));  // the kept ones still take messages
    EXPECT_EQ(log.messages.size(), 1u);
    subs.stop_all(Ending::Stopping);
    EXPECT_EQ(subs.size(), 0u);
    for (auto& [uid, n] : broker.waiters) EXPECT_EQ(n, 0) << "channel " << uid;
}

TEST_F(SubscriptionsTest, DestructionReleasesWhatIsLeft) {
    {
        Subscriptions subs(broker, loop);
        add(subs, 1, true);
        add(subs, 2, false);
    }
    EXPECT_EQ(log.destroyed, 2);
    for (auto& [uid, n] : broker.waiters) EXPECT_EQ(n, 0) << "channel " << uid;
}

TEST_F(SubscriptionsTest, ResyncGivesAOneShotItsNextAndAPersistentOneEverything) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    add(subs, 1, false);
    broker.stored = {message(10, 0), message(10, 1), message(11, 0)};
    subs.on_events_lost();
    // The one-shot got one message and ended; the persistent one got all three and stays.
    EXPECT_EQ(log.messages.size(), 4u);
    EXPECT_EQ(log.messages.back(), (core::MessageId{11, 0}));
    EXPECT_EQ(broker.waiters[1], 1);
    EXPECT_EQ(subs.size(), 1u);
}

TEST_F(SubscriptionsTest, ResyncOfADeletedChannelAnswers410WithoutReleasing) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true);
    broker.waiters[1] = 0;  // the deletion forgot it
    broker.gone = true;
    subs.on_events_lost();
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Deleted}));
    EXPECT_EQ(broker.waiters[1], 0);
}

TEST_F(SubscriptionsTest, ResyncKicksWaitersALastSubscriberReplaced) {
    Subscriptions subs(broker, loop);
    add(subs, 1, true, 1);
    add(subs, 1, true, 5);
    broker.kick_before_seq = 5;
    subs.on_events_lost();
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Kicked}));
    EXPECT_EQ(broker.waiters[1], 1);
}

TEST_F(SubscriptionsTest, CatchUpSendsANewStreamWhatIsStoredAfterItsStart) {
    Subscriptions subs(broker, loop);
    FakeTransport* stream = add(subs, 1, false, 1, {10, 0});
    broker.stored = {message(10, 0), message(10, 1), message(11, 0)};
    EXPECT_TRUE(subs.catch_up(*stream));
    EXPECT_EQ(log.messages, (std::vector<core::MessageId>{{10, 1}, {11, 0}}));
    // Later events for what it already has are not sent again.
    subs.on_message(1, message(11, 0));
    EXPECT_EQ(log.messages.size(), 2u);
    subs.stop(*stream);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Stopping}));
    EXPECT_EQ(broker.waiters[1], 0);
}

TEST_F(SubscriptionsTest, CatchUpOnADeletedChannelEndsTheStream) {
    Subscriptions subs(broker, loop);
    FakeTransport* stream = add(subs, 1, false);
    broker.waiters[1] = 0;  // the deletion forgot it
    broker.gone = true;
    EXPECT_FALSE(subs.catch_up(*stream));
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Deleted}));
    EXPECT_EQ(subs.size(), 0u);
}

// Multiplexed subscriptions (push/multiplex.h, transports.md "Multiplexing"): one transport, a
// member per channel, each counted on its own channel, all ending together.
struct MultiplexTest : SubscriptionsTest {
    // A multiplexed subscription on channels uid 1..n, registered as subscribe() would have.
    std::shared_ptr<Multiplex> add_multiplex(Subscriptions& subs, std::size_t n, bool one_shot,
                                             FakeTransport** transport,
                                             conf::Millis timeout = conf::Millis(0)) {
        auto t = std::make_unique<FakeTransport>(log, one_shot);
        *transport = t.get();
        auto m = Multiplex::create(subs, std::move(t), n, std::nullopt);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t uid = i + 1;
            broker.waiters[uid]++;
            subs.add(m->member(i), {"/ch" + std::to_string(uid), uid}, 1, {0, 0},
                     i == 0 ? timeout : conf::Millis(0));
        }
        return m;
    }
    void expect_no_waiters(std::size_t n) {
        for (std::uint64_t uid = 1; uid <= n; ++uid) EXPECT_EQ(broker.waiters[uid], 0) << uid;
    }
};

TEST_F(MultiplexTest, OneWaiterPerChannelAndTheIdsOfTheTable) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = nullptr;
    add_multiplex(subs, 2, false, &t);
    EXPECT_EQ(subs.size(), 2u);
    EXPECT_EQ(broker.waiters[1], 1);
    EXPECT_EQ(broker.waiters[2], 1);
    subs.on_message(1, message(100, 0));
    subs.on_message(2, message(100, 0));
    subs.on_message(1, message(100, 1));
    subs.on_message(2, message(100, 1));
    subs.on_message(2, message(101, 0));
    EXPECT_EQ(log.tags, (std::vector<std::string>{"[0],-", "0,[0]", "[1],0", "1,[1]", "-,[0]"}));
    EXPECT_EQ(broker.delivered, 5u);
    EXPECT_EQ(broker.waiters[1], 1);  // a stream stays on every channel
}

TEST_F(MultiplexTest, ALongPollEndsEveryMemberAfterOneMessage) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = nullptr;
    add_multiplex(subs, 3, true, &t);
    subs.on_message(2, message(100, 0));
    EXPECT_EQ(log.tags, (std::vector<std::string>{"-,[0],-"}));
    EXPECT_TRUE(log.finishes.empty());
    EXPECT_EQ(subs.size(), 0u);
    EXPECT_EQ(log.destroyed, 1);
    expect_no_waiters(3);
    EXPECT_EQ(broker.delivered, 1u);
}

TEST_F(MultiplexTest, DeletingOneChannelEndsAllWithOne410) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = nullptr;
    add_multiplex(subs, 3, false, &t);
    broker.waiters[2] = 0;  // the deletion forgot channel 2's waiters itself
    subs.on_deleted(2);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Deleted}));
    EXPECT_EQ(subs.size(), 0u);
    EXPECT_EQ(log.destroyed, 1);
    expect_no_waiters(3);
}

TEST_F(MultiplexTest, TheClientLeavingReleasesEveryChannel) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = nullptr;
    add_multiplex(subs, 2, false, &t);
    t->client_gone();
    EXPECT_TRUE(log.finishes.empty());
    EXPECT_EQ(subs.size(), 0u);
    expect_no_waiters(2);
}

TEST_F(MultiplexTest, KickTimeoutAndStopEachAnswerOnce) {
    {
        Subscriptions subs(broker, loop);
        FakeTransport* t = nullptr;
        add_multiplex(subs, 2, true, &t);
        subs.on_kick(2, 5);
        EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Kicked}));
        expect_no_waiters(2);
    }
    {
        Subscriptions subs(broker, loop);
        FakeTransport* t = nullptr;
        add_multiplex(subs, 2, false, &t);
        subs.stop_all(Ending::Restarting);
        EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Kicked, Ending::Restarting}));
        expect_no_waiters(2);
    }
    {
        Subscriptions subs(broker, loop);
        FakeTransport* t = nullptr;
        add_multiplex(subs, 2, true, &t, conf::Millis(1));
        for (int i = 0; i < 1000 && subs.size() > 0; i++) ev_run(loop, EVRUN_ONCE);
        EXPECT_EQ(log.finishes,
                  (std::vector<Ending>{Ending::Kicked, Ending::Restarting, Ending::TimedOut}));
        expect_no_waiters(2);
    }
    EXPECT_EQ(log.destroyed, 3);
}

TEST_F(MultiplexTest, DestructionReleasesEveryMember) {
    {
        Subscriptions subs(broker, loop);
        FakeTransport* t = nullptr;
        add_multiplex(subs, 3, false, &t);
    }
    EXPECT_TRUE(log.finishes.empty());
    EXPECT_EQ(log.destroyed, 1);
    expect_no_waiters(3);
}

TEST_F(MultiplexTest, BacklogMergedByTimeTagAndPosition) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = nullptr;
    auto m = add_multiplex(subs, 2, false, &t);
    broker.stored_on[1] = {message(10, 0), message(10, 1), message(12, 0)};
    broker.stored_on[2] = {message(10, 0), message(11, 0)};
    EXPECT_TRUE(m->catch_up({message(10, 0), message(10, 0)}));
    EXPECT_EQ(log.messages,
              (std::vector<core::MessageId>{{10, 0}, {10, 0}, {10, 1}, {11, 0}, {12, 0}}));
    EXPECT_EQ(log.tags, (std::vector<std::string>{"[0],-", "0,[0]", "[1],0", "-,[0]", "[0],-"}));
    // Events for what the catch-up sent are not sent again.
    subs.on_message(2, message(11, 0));
    EXPECT_EQ(log.messages.size(), 5u);
    EXPECT_EQ(broker.waiters[1], 1);
    EXPECT_EQ(broker.waiters[2], 1);
}

TEST_F(MultiplexTest, ALongPollCatchUpSendsOnlyTheOldestAndReleasesAll) {
    Subscriptions subs(broker, loop);
    FakeTransport* t = nullptr;
    auto m = add_multiplex(subs, 3, true, &t);
    EXPECT_FALSE(m->catch_up({message(11, 0), message(10, 3), std::nullopt}));
    EXPECT_EQ(log.messages, (std::vector<core::MessageId>{{10, 3}}));
    EXPECT_EQ(log.tags, (std::vector<std::string>{"-,[3],-"}));
    EXPECT_EQ(subs.size(), 0u);
    expect_no_waiters(3);
}

// Batched delivery: at most `batch` subscriptions per loop iteration, the rest continued by the
// loop; the counts add up to exactly one record per message, in order.
struct BatchedDeliveryTest : SubscriptionsTest {
    // Runs loop iterations until no walk is pending (bounded, so a bug cannot hang the test).
    void drain(Subscriptions& subs) {
        for (int i = 0; i < 100 && subs.pending_walks() > 0; i++) ev_run(loop, EVRUN_NOWAIT);
        EXPECT_EQ(subs.pending_walks(), 0u);
    }
};

TEST_F(BatchedDeliveryTest, ALargeListIsDeliveredOverSeveralIterationsWithExactCounts) {
    Subscriptions subs(broker, loop, 3);
    for (int i = 0; i < 10; i++) add(subs, 1, true);
    subs.on_message(1, message(10, 0));
    // The first batch at once, the rest later.
    EXPECT_EQ(log.messages.size(), 3u);
    EXPECT_EQ(broker.waiters[1], 7);
    EXPECT_EQ(subs.pending_walks(), 1u);
    drain(subs);
    EXPECT_EQ(log.messages.size(), 10u);
    EXPECT_EQ(broker.delivered, 10u);
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(subs.size(), 0u);
    EXPECT_EQ(log.destroyed, 10);
}

TEST_F(BatchedDeliveryTest, ALaterMessageNeverOvertakesAnEarlierOne) {
    std::vector<std::unique_ptr<Log>> logs;  // outlives the subscriptions, which write to it
    Subscriptions subs(broker, loop, 2);
    for (int i = 0; i < 5; i++) {
        broker.waiters[1]++;
        logs.push_back(std::make_unique<Log>());
        subs.add(std::make_unique<FakeTransport>(*logs.back(), false), {"/ch1", 1}, 1, {0, 0},
                 conf::Millis(0));
    }
    subs.on_message(1, message(10, 0));
    subs.on_message(1, message(10, 1));
    subs.on_message(1, message(10, 2));
    EXPECT_EQ(subs.pending_walks(), 3u);
    drain(subs);
    for (const auto& l : logs) {
        EXPECT_EQ(l->messages, (std::vector<core::MessageId>{{10, 0}, {10, 1}, {10, 2}}));
    }
    EXPECT_EQ(broker.delivered, 15u);
    EXPECT_EQ(broker.waiters[1], 5);  // persistent: all still waiting
}

TEST_F(BatchedDeliveryTest, ABurstOnOneChannelReachesEachSubscriptionTogether) {
    Subscriptions subs(broker, loop, 2);
    for (int i = 0; i < 4; i++) add(subs, 1, false);
    subs.on_message(1, message(10, 0));  // handed to two at once, the rest pending
    add(subs, 1, true, 1, {10, 0});      // a re-poll, after 10:0
    subs.on_message(1, message(10, 1));  // these join the walk under way, then walk themselves
    subs.on_message(1, message(10, 2));
    drain(subs);
    using Id = core::MessageId;
    EXPECT_EQ(log.messages, (std::vector<Id>{{10, 0},
                                             {10, 0},  // the first batch
                                             {10, 0},
                                             {10, 1},
                                             {10, 2},  // the rest: all three at once
                                             {10, 0},
                                             {10, 1},
                                             {10, 2},  //
                                             {10, 1},  // the one-shot: its first
                                             {10, 1},
                                             {10, 2},
                                             {10, 1},
                                             {10, 2}}));  // the joiners' own walk
    EXPECT_EQ(broker.delivered, 13u);
    EXPECT_EQ(broker.waiters[1], 4);
    EXPECT_EQ(subs.size(), 4u);
    EXPECT_EQ(subs.pending_walks(), 0u);
}

TEST_F(BatchedDeliveryTest, OtherChannelsWaitTheirTurnInArrivalOrder) {
    Subscriptions subs(broker, loop, 2);
    for (int i = 0; i < 4; i++) add(subs, 1, true);
    add(subs, 2, true);
    subs.on_message(1, message(10, 0));
    subs.on_message(2, message(20, 0));
    EXPECT_EQ(log.messages.size(), 2u);
    drain(subs);
    EXPECT_EQ(log.messages.back(), (core::MessageId{20, 0}));
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(broker.waiters[2], 0);
    EXPECT_EQ(subs.size(), 0u);
}

TEST_F(BatchedDeliveryTest, SubscriptionsEndingOrAddedMidWalkAreHandled) {
    Subscriptions subs(broker, loop, 2);
    std::vector<FakeTransport*> t;
    for (int i = 0; i < 6; i++) t.push_back(add(subs, 1, true));
    subs.on_message(1, message(10, 0));
    EXPECT_EQ(log.messages.size(), 2u);
    // The walk's next subscription and a later one leave; a re-poll registers with the message
    // it got as its starting point, and a newcomer with the channel's newest id.
    t[2]->client_gone();
    t[4]->client_gone();
    add(subs, 1, true, 2, {10, 0});
    add(subs, 1, true, 3, {10, 0});
    drain(subs);
    EXPECT_EQ(log.messages.size(), 4u);  // t0, t1, t3, t5
    EXPECT_EQ(broker.delivered, 4u);
    EXPECT_EQ(broker.waiters[1], 2);  // the two that joined mid-walk still wait
    EXPECT_EQ(subs.size(), 2u);
    subs.on_message(1, message(10, 1));
    drain(subs);
    EXPECT_EQ(log.messages.size(), 6u);
    EXPECT_EQ(broker.waiters[1], 0);
}

TEST_F(BatchedDeliveryTest, ADeletionAfterAMessageWaitsForItsWalk) {
    Subscriptions subs(broker, loop, 2);
    for (int i = 0; i < 5; i++) add(subs, 1, false);
    subs.on_message(1, message(10, 0));
    EXPECT_EQ(log.messages.size(), 2u);
    broker.waiters[1] = 0;  // the deletion forgets every waiter
    subs.on_deleted(1);
    // Events apply in order: the message published before the deletion reached every
    // subscription it was for, then each got its 410.
    EXPECT_EQ(log.messages.size(), 5u);
    EXPECT_EQ(log.finishes, std::vector<Ending>(5, Ending::Deleted));
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(subs.size(), 0u);
    EXPECT_EQ(subs.pending_walks(), 0u);
}

TEST_F(BatchedDeliveryTest, AKickAfterAMessageWaitsForItsWalk) {
    Subscriptions subs(broker, loop, 2);
    for (int i = 0; i < 4; i++) add(subs, 1, false, 1);
    add(subs, 1, false, 9);
    subs.on_message(1, message(10, 0));
    subs.on_kick(1, 9);
    EXPECT_EQ(log.messages.size(), 5u);
    EXPECT_EQ(log.finishes, std::vector<Ending>(4, Ending::Kicked));
    EXPECT_EQ(broker.waiters[1], 1);
}

TEST_F(BatchedDeliveryTest, StopFinishesPendingDeliveriesFirst) {
    Subscriptions subs(broker, loop, 2);
    for (int i = 0; i < 5; i++) add(subs, 1, true);
    add(subs, 2, false);
    subs.on_message(1, message(10, 0));
    subs.stop_all(Ending::Stopping);
    EXPECT_EQ(log.messages.size(), 5u);
    EXPECT_EQ(log.finishes, (std::vector<Ending>{Ending::Stopping}));
    EXPECT_EQ(subs.pending_walks(), 0u);
    for (auto& [uid, n] : broker.waiters) EXPECT_EQ(n, 0) << "channel " << uid;
}

// A message whose receipt counts in `released` when the last copy of it goes.
broker::Message message_counting_release(std::shared_ptr<int> released) {
    broker::Message m = message(10, 0);
    m.receipt_hold = std::shared_ptr<const void>(nullptr, [released](const void*) { ++*released; });
    return m;
}

TEST_F(BatchedDeliveryTest, TheMessageCopyIsKeptUntilTheLastBatch) {
    auto released = std::make_shared<int>(0);
    {
        Subscriptions subs(broker, loop, 2);
        for (int i = 0; i < 5; i++) add(subs, 1, true);
        subs.on_message(1, message_counting_release(released));
        EXPECT_EQ(*released, 0);  // the walk holds the receipt
        drain(subs);
        EXPECT_EQ(*released, 1);
        EXPECT_EQ(broker.waiters[1], 0);
    }
}

TEST_F(BatchedDeliveryTest, DestructionDropsPendingDeliveries) {
    auto released = std::make_shared<int>(0);
    {
        Subscriptions subs(broker, loop, 2);
        for (int i = 0; i < 5; i++) add(subs, 1, true);
        subs.on_message(1, message_counting_release(released));
    }
    EXPECT_EQ(*released, 1);
    EXPECT_EQ(log.destroyed, 5);
    for (auto& [uid, n] : broker.waiters) EXPECT_EQ(n, 0) << "channel " << uid;
}

}  // namespace
}  // namespace pushrelay::push
