// The server-wide figures in Store::stats(): workers present per slot, open connections per slot,
// the start time and the reload count, as push_stub_status reports them. They must be exact
// whichever process asks, so the cross-process cases run the writer in a fork()ed child.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {
namespace {

// Runs `child` in a fork()ed process that leaves with _exit (never returning into gtest) and
// returns its exit code, or -1 if it did not exit normally.
template <typename Child>
int exit_code_of_child(Child child) {
    const pid_t pid = fork();
    if (pid == 0) {
        _exit(child());
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

using ServerStatsTest = StoreTest;

TEST_F(ServerStatsTest, AFreshStoreHasNoWorkersConnectionsOrReloads) {
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.workers, 0u);
    EXPECT_EQ(stats.connections, 0u);
    EXPECT_EQ(stats.started_ms, 0);
    EXPECT_EQ(stats.reloads, 0u);
}

// During a binary upgrade two masters share the segment: each starts a worker only in a slot it
// claimed, so neither takes one the other's worker holds.
TEST_F(ServerStatsTest, AStartedSlotIsClaimedOnceUntilReset) {
    EXPECT_TRUE(store_.slot_started(3));
    EXPECT_FALSE(store_.slot_started(3));
    EXPECT_EQ(store_.stats().workers, 1u);
    store_.reset_slot(3, kT0);
    EXPECT_TRUE(store_.slot_started(3));
}

// What lets a master give back the slots of another master's workers once they are gone.
TEST_F(ServerStatsTest, ASlotNamesItsWorkerUntilReset) {
    EXPECT_EQ(store_.slot_worker(2), std::nullopt);
    store_.slot_started(2);
    EXPECT_EQ(store_.slot_worker(2), 0);
    store_.set_slot_worker(2, 4321);
    EXPECT_EQ(store_.slot_worker(2), 4321);
    store_.reset_slot(2, kT0);
    EXPECT_EQ(store_.slot_worker(2), std::nullopt);
    store_.slot_started(2);
    EXPECT_EQ(store_.slot_worker(2), 0);
}

TEST_F(ServerStatsTest, WorkersCountTheStartedSlotsUntilReset) {
    store_.slot_started(0);
    store_.slot_started(5);
    store_.slot_started(kMaxWorkerSlots - 1);
    EXPECT_EQ(store_.stats().workers, 3u);
    store_.slot_started(5);
    EXPECT_EQ(store_.stats().workers, 3u) << "a slot counts once";
    store_.reset_slot(5, kT0);
    EXPECT_EQ(store_.stats().workers, 2u);
    store_.reset_slot(5, kT0);
    EXPECT_EQ(store_.stats().workers, 2u) << "resetting a free slot changes nothing";
}

TEST_F(ServerStatsTest, ConnectionsAreSummedOverSlots) {
    store_.set_connections(0, 7);
    store_.set_connections(3, 2);
    store_.set_connections(kMaxWorkerSlots - 1, 1);
    EXPECT_EQ(store_.stats().connections, 10u);
    store_.set_connections(3, 0);
    EXPECT_EQ(store_.stats().connections, 8u) << "a store replaces the slot's count";
}

TEST_F(ServerStatsTest, ResetSlotClearsItsConnectionsOnly) {
    store_.slot_started(1);
    store_.slot_started(2);
    store_.set_connections(1, 4);
    store_.set_connections(2, 6);
    store_.reset_slot(1, kT0);
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.connections, 6u);
    EXPECT_EQ(stats.workers, 1u);
}

TEST_F(ServerStatsTest, SlotStartedLeavesAConnectionCountTheWorkerAlreadyStored) {
    // A count stored before slot_started() is kept.
    store_.set_connections(4, 3);
    store_.slot_started(4);
    EXPECT_EQ(store_.stats().connections, 3u);
}

TEST_F(ServerStatsTest, LargeCountsDoNotWrapInTheSum) {
    store_.set_connections(0, UINT32_MAX);
    store_.set_connections(1, UINT32_MAX);
    EXPECT_EQ(store_.stats().connections, 2ull * UINT32_MAX);
}

TEST_F(ServerStatsTest, StartTimeAndReloadsAreRecorded) {
    store_.set_started_ms(kT0);
    store_.note_reload();
    store_.note_reload();
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.started_ms, kT0);
    EXPECT_EQ(stats.reloads, 2u);
}

// grip_items, grip_recovers, grip_rerequests and grip_origin_errors: what the GRIP locations tell
// the store (status page figures), counted apart from `published`, whichever process counts.
TEST_F(ServerStatsTest, GripFiguresAreCountedServerWide) {
    store_.count_grip_items(3);
    store_.count_grip_items(2);
    store_.post_reset();
    store_.count_grip_rerequest();
    store_.count_grip_origin_error();
    const int code = exit_code_of_child([this] {
        store_.post_reset();
        store_.count_grip_rerequest();
        store_.count_grip_rerequest();
        return 0;
    });
    ASSERT_EQ(code, 0);
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.grip_items, 5u);
    EXPECT_EQ(stats.grip_recovers, 2u);
    EXPECT_EQ(stats.grip_rerequests, 3u);
    EXPECT_EQ(stats.grip_origin_errors, 1u);
    EXPECT_EQ(stats.published, 0u);
}

// A dead worker's counts stay: the counters are the server's, not the slot's.
TEST_F(ServerStatsTest, GripCountersSurviveTheSlotsReset) {
    store_.slot_started(1);
    store_.count_grip_rerequest();
    store_.count_grip_origin_error();
    store_.reset_slot(1, kT0);
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.grip_rerequests, 1u);
    EXPECT_EQ(stats.grip_origin_errors, 1u);
}

TEST_F(ServerStatsTest, FiguresWrittenByAChildAreSeenByTheParent) {
    store_.set_started_ms(kT0);
    store_.slot_started(0);
    const int code = exit_code_of_child([this] {
        store_.set_connections(0, 9);
        store_.note_reload();
        publish("g/a", "x", kT0);
        return 0;
    });
    ASSERT_EQ(code, 0);
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.connections, 9u);
    EXPECT_EQ(stats.reloads, 1u);
    EXPECT_EQ(stats.published, 1u);
    EXPECT_EQ(stats.workers, 1u);
}

TEST_F(ServerStatsTest, FiguresWrittenByTheParentAreSeenByAChild) {
    store_.set_started_ms(kT0);
    store_.slot_started(2);
    store_.set_connections(2, 5);
    const int code = exit_code_of_child([this] {
        const Store::Stats stats = store_.stats();
        const bool exact = stats.started_ms == kT0 && stats.workers == 1 && stats.connections == 5;
        return exact ? 0 : 1;
    });
    EXPECT_EQ(code, 0);
}

TEST_F(ServerStatsTest, TheExistingFiguresStayIntact) {
    publish("g/a", "x", kT0);
    store_.slot_started(0);
    store_.set_connections(0, 1);
    const Store::Stats stats = store_.stats();
    EXPECT_EQ(stats.channels, 1u);
    EXPECT_EQ(stats.messages, 1u);
    EXPECT_EQ(stats.published, 1u);
    EXPECT_EQ(stats.size, kSegmentBytes);
    EXPECT_LT(stats.free, stats.size);
}

}  // namespace
}  // namespace pushrelay::shm
