// Sequencing states in the segment (Store::sequence and friends): one opaque state per key, one
// step at a time for every process, wake times, resets, space, and crash consistency.
// doc/shm-layout.md, "Sequencing".
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "shm/crash_point.h"
#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {
namespace {

using SequencingTest = StoreTest;

// A step that keeps `state` with `wake`, and records what it was handed in *seen.
Store::SequenceStep keep(std::string state, std::int64_t wake, std::string* seen = nullptr,
                         std::uint32_t waiting = 0) {
    return [=](std::string_view, std::string_view old) {
        if (seen != nullptr)
            *seen = std::string(old);
        return Store::SequenceUpdate{
            .keep = true, .state = state, .wake_at_ms = wake, .waiting = waiting};
    };
}

Store::SequenceUpdate forget(std::string_view, std::string_view) {
    return {};
}

// A step that adds one to a decimal counter state.
Store::SequenceUpdate count_up(std::string_view, std::string_view old) {
    const long n = old.empty() ? 0 : std::stol(std::string(old));
    return {.keep = true, .state = std::to_string(n + 1), .wake_at_ms = 1};
}

std::string state_of(Store& store, std::string_view key) {
    std::string seen;
    store.sequence(key, [&](std::string_view, std::string_view old) {
        seen = std::string(old);
        return Store::SequenceUpdate{.keep = !old.empty(), .state = seen, .wake_at_ms = 1};
    });
    return seen;
}

TEST_F(SequencingTest, AStepSeesWhatThePreviousStepOfItsKeyLeft) {
    std::string seen = "unset";
    EXPECT_EQ(store_.sequence("g/a", keep("one", 10, &seen)), Status::Ok);
    EXPECT_EQ(seen, "");  // a key never seen
    EXPECT_EQ(store_.sequence("g/b", keep("other", 20)), Status::Ok);
    EXPECT_EQ(store_.sequence("g/a", keep("two", 10, &seen)), Status::Ok);
    EXPECT_EQ(seen, "one");
    EXPECT_EQ(state_of(store_, "g/a"), "two");
    EXPECT_EQ(state_of(store_, "g/b"), "other");
    EXPECT_TRUE(store_.check().empty());
}

TEST_F(SequencingTest, AStateLeftByAnotherProcessIsSeen) {
    const int status =
        run_in_child([this] { store_.sequence("g/a", keep(std::string("\0x", 2), 5)); });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(store_.next_sequence_wake(), 5);
    EXPECT_EQ(state_of(store_, "g/a"), std::string("\0x", 2));
}

TEST_F(SequencingTest, ForgettingGivesEveryByteBack) {
    const std::uint64_t free = store_.stats().free;
    store_.sequence("g/a", keep(std::string(10'000, 's'), 5, nullptr, 3));
    EXPECT_LT(store_.stats().free, free);
    EXPECT_EQ(store_.stats().sequence_keys, 1u);
    EXPECT_EQ(store_.stats().sequence_waiting, 3u);
    store_.sequence("g/a", forget);
    EXPECT_EQ(store_.stats().free, free);
    EXPECT_EQ(store_.stats().sequence_keys, 0u);
    EXPECT_EQ(store_.stats().sequence_waiting, 0u);
    EXPECT_EQ(store_.next_sequence_wake(), INT64_MAX);
    EXPECT_TRUE(store_.check().empty());
}

TEST_F(SequencingTest, DueKeysAreVisitedEarliestFirstAndOnlyThem) {
    store_.sequence("g/late", keep("l", 300));
    store_.sequence("g/early", keep("e", 100));
    store_.sequence("g/mid", keep("m", 200));
    EXPECT_EQ(store_.next_sequence_wake(), 100);
    std::vector<std::string> visited;
    const auto later = [&](std::string_view key, std::string_view old) {
        visited.emplace_back(key);
        return Store::SequenceUpdate{.keep = true, .state = std::string(old), .wake_at_ms = 1000};
    };
    EXPECT_EQ(store_.sequence_due(200, later), 2u);
    EXPECT_EQ(visited, (std::vector<std::string>{"g/early", "g/mid"}));
    EXPECT_EQ(store_.next_sequence_wake(), 300);
    EXPECT_EQ(store_.sequence_due(INT64_MAX, later), 3u);  // every key
    EXPECT_EQ(store_.next_sequence_wake(), 1000);
    EXPECT_TRUE(store_.check().empty());
}

// The step publishes (Root::lock) while it holds the sequencing lock: the one allowed order.
TEST_F(SequencingTest, AStepMayPublish) {
    EXPECT_EQ(store_.sequence("g/a",
                              [&](std::string_view key, std::string_view) {
                                  EXPECT_EQ(publish(key, "item", kT0).status, Status::Ok);
                                  return Store::SequenceUpdate{};
                              }),
              Status::Ok);
    EXPECT_EQ(store_.stats().published, 1u);
}

TEST_F(SequencingTest, DuplicatesAddUp) {
    const auto dropped = [](std::string_view, std::string_view) {
        Store::SequenceUpdate update;
        update.duplicates = 2;
        return update;
    };
    store_.sequence("g/a", dropped);
    store_.sequence("g/b", dropped);
    EXPECT_EQ(store_.stats().sequence_duplicates, 4u);
}

// Two processes stepping one key many times: no step is lost, so none ran beside another.
TEST_F(SequencingTest, StepsOfTwoProcessesAreSerialised) {
    Watchdog watchdog(30);
    constexpr int kSteps = 2000;
    const pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < kSteps; ++i) store_.sequence("g/n", count_up);
        _exit(0);
    }
    for (int i = 0; i < kSteps; ++i) store_.sequence("g/n", count_up);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_EQ(state_of(store_, "g/n"), std::to_string(2 * kSteps));
}

TEST_F(SequencingTest, AStateTooBigForTheSegmentIsForgotten) {
    store_.sequence("g/a", keep("small", 5));
    const std::uint64_t free = store_.stats().free;
    EXPECT_EQ(store_.sequence("g/a", keep(std::string(kSegmentBytes, 'x'), 5)), Status::NoSpace);
    EXPECT_EQ(state_of(store_, "g/a"), "");
    EXPECT_GT(store_.stats().free, free);  // the old state went too
    EXPECT_TRUE(store_.check().empty());
}

TEST_F(SequencingTest, AResetIsPostedToEveryWorkerWithAMailbox) {
    for (const int slot : {0, 1, 2}) store_.slot_started(slot);
    for (const int slot : {0, 2}) store_.subscribe(request("g/held", kT0, std::nullopt, slot));
    EXPECT_EQ(store_.post_reset(), bit(0) | bit(2));
    for (const int slot : {0, 2}) {
        std::vector<Store::Event> events = drain(slot);
        ASSERT_EQ(events.size(), 1u);
        EXPECT_EQ(events[0].kind, Store::Event::Reset);
    }
    EXPECT_TRUE(drain(1).empty());
    EXPECT_EQ(store_.stats().grip_recovers, 1u);
}

// ---- crash consistency ----

int crash_countdown = 0;

void count_down_to_crash() {
    if (--crash_countdown == 0) {
        raise(SIGKILL);
    }
}

// A child replacing (or removing) a state dies at every crash point in turn; the parent must
// find the old state or the new one, whole, and a consistent store that keeps stepping.
TEST_F(SequencingTest, ADeathWhileAStateIsStoredLeavesTheOldOrTheNewOne) {
    Watchdog watchdog(60);
    for (const bool removing : {false, true}) {
        for (int point = 1;; ++point) {
            store_.sequence("g/a", keep("old", 5));
            const int status = run_in_child([&] {
                crash_countdown = point;
                crash_hook = count_down_to_crash;
                if (removing)
                    store_.sequence("g/a", forget);
                else
                    store_.sequence("g/a", keep("new", 6));
            });
            const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
            ASSERT_TRUE(killed || WIFEXITED(status)) << "point " << point;
            const std::string state = state_of(store_, "g/a");
            const std::string done = removing ? "" : "new";
            EXPECT_TRUE(state == "old" || state == done) << "point " << point << ": " << state;
            if (!killed) {
                EXPECT_EQ(state, done) << "point " << point;
            }
            EXPECT_EQ(store_.check(), std::vector<std::string>{}) << "point " << point;
            EXPECT_EQ(store_.sequence("g/b", keep("works", 7)), Status::Ok);
            store_.sequence("g/b", forget);
            if (!killed)
                break;
        }
    }
}

// A death during the step itself (the sequencing lock held, the store's not) keeps the old state.
TEST_F(SequencingTest, ADeathDuringAStepKeepsTheOldState) {
    Watchdog watchdog(30);
    store_.sequence("g/a", keep("old", 5));
    const int status = run_in_child([this] {
        store_.sequence("g/a", [](std::string_view, std::string_view) -> Store::SequenceUpdate {
            raise(SIGKILL);
            return {};
        });
    });
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(state_of(store_, "g/a"), "old");
    EXPECT_TRUE(store_.check().empty());
}

}  // namespace
}  // namespace pushrelay::shm
