// ShmBroker over a real segment, as one worker (slot 0) sees it: what it hands out, what it
// counts, and the events it dispatches after a wake-up.
#include "broker/shm_broker.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <string>
#include <variant>
#include <vector>

#include "shm/segment.h"

namespace pushrelay::broker {
namespace {

struct Recorded {
    std::vector<std::string> events;  // "message <uid> <body>", "deleted <uid>", "kick <uid> <seq>"
};

class RecordingListener final : public Listener {
  public:
    explicit RecordingListener(Recorded& recorded) : recorded_(recorded) {}
    // What to do with each message: count it as delivered to one one-shot waiter.
    ShmBroker* broker = nullptr;
    ChannelRef channel;

    void on_message(std::uint64_t uid, const Message& message) override {
        recorded_.events.push_back("message " + std::to_string(uid) + " " + *message.body);
        if (broker)
            broker->record_delivery(channel, message, 1, 1);
    }
    void on_deleted(std::uint64_t uid) override {
        recorded_.events.push_back("deleted " + std::to_string(uid));
    }
    void on_kick(std::uint64_t uid, std::uint64_t before_seq) override {
        recorded_.events.push_back("kick " + std::to_string(uid) + " " +
                                   std::to_string(before_seq));
    }
    void on_events_lost() override { recorded_.events.push_back("lost"); }
    void on_grip_recover() override { recorded_.events.push_back("grip recover"); }

  private:
    Recorded& recorded_;
};

struct ShmBrokerTest : ::testing::Test {
    ShmBrokerTest()
        : segment(std::get<shm::Segment>(shm::Segment::create(1 << 20))),
          store(std::get<shm::Store>(shm::Store::open(segment))),
          loop(ev_loop_new(EVFLAG_AUTO)) {
        wake_fds.fill(-1);
        wake_fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        store.slot_started(0);
        broker = std::make_unique<ShmBroker>(store, 0, wake_fds, loop);
        broker->set_listener(&listener);
    }
    ~ShmBrokerTest() override {
        broker.reset();
        ev_loop_destroy(loop);
        close(wake_fds[0]);
    }
    // Whether the eventfd of slot 0 was written since the last call (and resets it).
    bool woken() {
        std::uint64_t n = 0;
        return read(wake_fds[0], &n, sizeof n) == sizeof n && n > 0;
    }
    SubscribeResult wait_on(std::string_view key) {
        return broker->subscribe({.key = key, .since = std::nullopt, .wait = true});
    }

    shm::Segment segment;
    shm::Store store;
    struct ev_loop* loop;
    std::array<int, core::kMaxWorkerSlots> wake_fds;
    Recorded recorded;
    RecordingListener listener{recorded};
    std::unique_ptr<ShmBroker> broker;
};

TEST_F(ShmBrokerTest, APublishWakesTheWaitingWorkerAndDispatchesTheMessage) {
    SubscribeResult waiting = wait_on("/a");
    ASSERT_TRUE(waiting.waiting);
    EXPECT_FALSE(woken());
    listener.broker = broker.get();
    listener.channel = waiting.channel;
    PublishResult published = broker->publish("/a", "text/plain", "", "hello", {});
    EXPECT_TRUE(published.had_waiters);
    EXPECT_TRUE(woken());
    broker->dispatch_events();
    EXPECT_EQ(
        recorded.events,
        (std::vector<std::string>{"message " + std::to_string(waiting.channel.uid) + " hello"}));
    // record_delivery forgot the one-shot waiter: nobody waits any more.
    EXPECT_EQ(broker->info("/a")->subscribers, 0u);
    EXPECT_EQ(broker->stats().delivered, 1u);
    EXPECT_TRUE(store.check().empty());
}

TEST_F(ShmBrokerTest, APublishWithoutWaitersWakesNobody) {
    EXPECT_FALSE(broker->publish("/b", "", "", "x", {}).had_waiters);
    EXPECT_FALSE(woken());
}

TEST_F(ShmBrokerTest, SubscribeHandsOutAStoredMessageAsItsOwnCopy) {
    broker->publish("/c", "text/plain", "", "stored", {});
    SubscribeResult result = wait_on("/c");
    ASSERT_TRUE(result.message);
    EXPECT_FALSE(result.waiting);
    EXPECT_EQ(*result.message->body, "stored");
    EXPECT_EQ(result.message->content_type, "text/plain");
    EXPECT_TRUE(store.check().empty());  // no pin left behind
}

TEST_F(ShmBrokerTest, UnsubscribeGivesTheCountBack) {
    SubscribeResult waiting = wait_on("/d");
    broker->publish("/d", "", "", "keep it", {});  // the channel now outlives its waiter
    EXPECT_EQ(broker->info("/d")->subscribers, 1u);
    broker->unsubscribe(waiting.channel, 1);
    EXPECT_EQ(broker->info("/d")->subscribers, 0u);
    EXPECT_TRUE(store.check().empty());
}

TEST_F(ShmBrokerTest, FindNextCountsWhatItHandsOut) {
    SubscribeResult waiting = wait_on("/e");
    broker->publish("/e", "", "", "one", {});
    broker->publish("/e", "", "", "two", {});
    NextResult first = broker->find_next(waiting.channel, waiting.resume_after);
    ASSERT_TRUE(first.message);
    EXPECT_EQ(*first.message->body, "one");
    NextResult second = broker->find_next(waiting.channel, first.message->id);
    ASSERT_TRUE(second.message);
    EXPECT_EQ(*second.message->body, "two");
    EXPECT_FALSE(broker->find_next(waiting.channel, second.message->id).message);
    EXPECT_EQ(broker->stats().delivered, 2u);
    EXPECT_TRUE(store.check().empty());
}

TEST_F(ShmBrokerTest, DeletionAndKicksAreDispatchedInOrder) {
    SubscribeResult first = wait_on("/f");
    SubscribeResult last = broker->subscribe(
        {.key = "/f", .since = std::nullopt, .wait = true, .concurrency = Concurrency::Last});
    ASSERT_TRUE(last.waiting);
    broker->delete_channel("/f");
    broker->dispatch_events();
    const std::string uid = std::to_string(first.channel.uid);
    EXPECT_EQ(recorded.events,
              (std::vector<std::string>{"kick " + uid + " " + std::to_string(last.waiter_seq),
                                        "deleted " + uid}));
    EXPECT_EQ(broker->find_next(first.channel, {}).status, core::Status::Gone);
}

TEST_F(ShmBrokerTest, AGripRecoverReachesTheListenerOfEveryWorkerHoldingSubscribers) {
    wait_on("/g");  // the slot has a mailbox now: it holds subscribers
    EXPECT_FALSE(woken());
    broker->announce_grip_recover();
    EXPECT_TRUE(woken());
    broker->dispatch_events();
    EXPECT_EQ(recorded.events, std::vector<std::string>{"grip recover"});
    EXPECT_EQ(broker->stats().grip_recovers, 1u);
}

// The step's fields reach the store under its names: the state comes back to the next step, the
// wake time and the figures show.
TEST_F(ShmBrokerTest, GripSequencingKeepsAStatePerChannel) {
    const auto keep = [](std::string_view, std::string_view) {
        return SequenceUpdate{
            .keep = true, .state = "s1", .wake_at_ms = 42, .waiting = 2, .duplicates = 1};
    };
    EXPECT_EQ(broker->sequence_grip("/h", keep), core::Status::Ok);
    EXPECT_EQ(broker->next_grip_wake(), 42);
    EXPECT_EQ(broker->grip_sequence_state("/h"), "s1");
    EXPECT_EQ(broker->grip_sequence_state("/other"), "");
    std::string seen;
    const auto look = [&](std::string_view key, std::string_view state) {
        seen = std::string(key) + "=" + std::string(state);
        return SequenceUpdate{};
    };
    EXPECT_EQ(broker->sequence_grip_due(41, look), 0u);
    const Stats stats = broker->stats();
    EXPECT_EQ(stats.grip_waiting, 2u);
    EXPECT_EQ(stats.grip_duplicates, 1u);
    EXPECT_EQ(broker->sequence_grip_due(42, look), 1u);
    EXPECT_EQ(seen, "/h=s1");
    EXPECT_EQ(broker->next_grip_wake(), INT64_MAX);  // the step forgot it
    EXPECT_EQ(broker->stats().grip_waiting, 0u);
}

TEST_F(ShmBrokerTest, GripRerequestsAndOriginErrorsAreCounted) {
    broker->count_grip_rerequest();
    broker->count_grip_origin_error();
    broker->count_grip_origin_error();
    EXPECT_EQ(broker->stats().grip_rerequests, 1u);
    EXPECT_EQ(broker->stats().grip_origin_errors, 2u);
}

}  // namespace
}  // namespace pushrelay::broker
