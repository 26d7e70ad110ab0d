// The store across processes: a child fork()ed from the test shares the segment, and a child
// SIGKILLed while holding the lock does not stop the parent. doc/shm-layout.md, "Segment" and
// "Lock discipline".
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {

namespace {

using ProcessTest = StoreTest;

TEST_F(ProcessTest, ALockHolderKilledWhileHoldingItIsRecoveredFrom) {
    publish("g/a", "before", kT0);
    const int status = run_in_child([this] {
        if (!StoreTestAccess::lock(store_).lock()) {
            raise(SIGKILL);
        }
    });
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGKILL);

    Watchdog watchdog(10);
    EXPECT_EQ(store_.stats().lock_recoveries, 1u);
    EXPECT_EQ(publish("g/a", "after", kT0).status, Status::Ok);
    EXPECT_EQ(messages_in("g/a", kT0), 2u);
    EXPECT_EQ(store_.stats().lock_recoveries, 1u) << "counted once, not on every later lock";
}

TEST_F(ProcessTest, AChildsPublishReachesTheParentsMailbox) {
    auto held = store_.subscribe(request("g/a", kT0, std::nullopt, 1));
    ASSERT_TRUE(held.held);
    const int status = run_in_child([this] {
        const auto result = publish("g/a", "from the child", kT0);
        _exit(result.status == Status::Ok && result.wake_slots_mask == bit(1) ? 0 : 1);
    });
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);

    auto events = drain(1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Store::Event::Published);
    EXPECT_EQ(events[0].uid, held.uid);
    EXPECT_EQ(store_.view(events[0].message).body, "from the child");
    store_.record_delivery("g/a", held.uid, 1, 1, 1, events[0].message, kT0);
    unpin_all(events);
    EXPECT_EQ(store_.stats().published, 1u);
    EXPECT_EQ(store_.stats().subscribers, 0u);
}

TEST(SegmentTest, ATooSmallSegmentIsAnError) {
    auto created = Segment::create(64);
    ASSERT_TRUE(std::holds_alternative<std::string>(created));
    EXPECT_FALSE(std::get<std::string>(created).empty());
}

TEST(SegmentTest, AMovedSegmentKeepsItsStore) {
    Segment first = make_segment(1 << 20);
    Segment second = std::move(first);
    EXPECT_EQ(first.root(), nullptr);
    Store store = open_store(second);
    EXPECT_EQ(store.publish("g/a", "", "", "x", {}, 0).status, Status::Ok);
    EXPECT_EQ(store.stats().size, 1u << 20);
}

// shm/layout.h, kLayoutVersion: checked in every build, not only where asserts are compiled in.
TEST(SegmentTest, AStoreOfAnotherLayoutVersionIsRefusedNamingBoth) {
    Segment segment = make_segment(1 << 20);
    segment.root()->layout_version = kLayoutVersion + 1;
    auto opened = Store::open(segment);
    ASSERT_TRUE(std::holds_alternative<std::string>(opened));
    const std::string& error = std::get<std::string>(opened);
    EXPECT_NE(error.find("layout version " + std::to_string(kLayoutVersion + 1)), std::string::npos)
        << error;
    EXPECT_NE(error.find("version " + std::to_string(kLayoutVersion) + " only"), std::string::npos)
        << error;
    segment.root()->layout_version = kLayoutVersion;
    EXPECT_TRUE(std::holds_alternative<Store>(Store::open(segment)));
}

// What a new master does with the memfd an old one handed over (USR2): a second mapping, at
// another address, of the same store.
TEST(SegmentTest, AnAdoptedSegmentIsTheSameStore) {
    Segment segment = make_segment(1 << 20);
    Store store = open_store(segment);
    EXPECT_EQ(store.publish("g/a", "", "", "x", {}, 0).status, Status::Ok);
    auto adopted = Segment::adopt(dup(segment.fd()));
    ASSERT_TRUE(std::holds_alternative<Segment>(adopted)) << std::get<std::string>(adopted);
    Segment& second = std::get<Segment>(adopted);
    EXPECT_EQ(second.size(), std::size_t{1} << 20);
    EXPECT_NE(static_cast<void*>(second.root()), static_cast<void*>(segment.root()));
    Store other = open_store(second);
    EXPECT_EQ(other.stats().messages, 1u);
    EXPECT_EQ(other.publish("g/a", "", "", "y", {}, 0).status, Status::Ok);
    EXPECT_EQ(store.stats().messages, 2u);
}

TEST(SegmentTest, AdoptingWhatIsNotASegmentIsAnError) {
    const int fd = memfd_create("not-a-segment", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 1 << 16), 0);
    auto adopted = Segment::adopt(fd);
    ASSERT_TRUE(std::holds_alternative<std::string>(adopted));
    EXPECT_NE(std::get<std::string>(adopted).find("not a pushrelay segment"), std::string::npos);
}

TEST(SegmentTest, AMovedFromSegmentHoldsNoStore) {
    Segment first = make_segment(1 << 20);
    Segment second = std::move(first);
    auto opened = Store::open(first);
    ASSERT_TRUE(std::holds_alternative<std::string>(opened));
    EXPECT_NE(std::get<std::string>(opened).find("no store"), std::string::npos);
}

TEST(SegmentTest, AMovedStoreKeepsItsBinding) {
    Segment segment = make_segment(1 << 20);
    Store first = open_store(segment);
    Store second = std::move(first);
    EXPECT_EQ(second.publish("g/a", "", "", "x", {}, 0).status, Status::Ok);
    EXPECT_EQ(second.stats().channels, 1u);
}

}  // namespace
}  // namespace pushrelay::shm
