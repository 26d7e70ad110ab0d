// limit/zone.h: the table (lookups, LRU eviction of limit_req states, limit_conn counts per
// slot), sharing across fork(), and crash consistency: a child SIGKILLed in the middle of zone
// operations leaves a zone the next locker repairs, and the master's reset_slot gives back the
// dead child's counts.
#include "limit/zone.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace pushrelay::limit {
namespace {

std::unique_ptr<Zone> make_zone(conf::LimitZone::Kind kind, uint64_t size = 32 * 1024) {
    conf::LimitZone conf;
    conf.kind = kind;
    conf.name = "z";
    conf.size = size;
    auto zone = Zone::create(conf);
    EXPECT_TRUE(std::holds_alternative<std::unique_ptr<Zone>>(zone));
    return std::move(std::get<std::unique_ptr<Zone>>(zone));
}

const BucketRule kOnePerSecond{1000, 0, 0};

TEST(ReqZone, RemembersEachKeyApart) {
    auto zone = make_zone(conf::LimitZone::Kind::Req);
    EXPECT_TRUE(zone->request("a", 0, kOnePerSecond, true).pass);
    EXPECT_TRUE(zone->request("b", 0, kOnePerSecond, true).pass);
    EXPECT_FALSE(zone->request("a", 10, kOnePerSecond, true).pass);
    EXPECT_EQ(zone->used(), 2u);
    EXPECT_TRUE(zone->consistent());
}

TEST(ReqZone, CheckingWithoutAccountingChangesNothing) {
    auto zone = make_zone(conf::LimitZone::Kind::Req);
    EXPECT_TRUE(zone->request("a", 0, kOnePerSecond, false).pass);
    EXPECT_TRUE(zone->request("a", 0, kOnePerSecond, false).pass);
    EXPECT_EQ(zone->used(), 0u);
}

// A key longer than the inline space is kept as a digest, and still told apart.
TEST(ReqZone, LongKeys) {
    auto zone = make_zone(conf::LimitZone::Kind::Req);
    std::string a(100, 'x'), b(100, 'x');
    b.back() = 'y';
    EXPECT_TRUE(zone->request(a, 0, kOnePerSecond, true).pass);
    EXPECT_TRUE(zone->request(b, 0, kOnePerSecond, true).pass);
    EXPECT_FALSE(zone->request(a, 0, kOnePerSecond, true).pass);
}

// nginx: "If the zone storage is exhausted, the least recently used state is removed."
TEST(ReqZone, FullZoneEvictsTheLeastRecentlyUsed) {
    auto zone = make_zone(conf::LimitZone::Kind::Req);
    const uint32_t n = zone->capacity();
    BucketRule slow{1, 1000 * 1000, 1000 * 1000};  // never drains within the test
    for (uint32_t i = 0; i < n; ++i) {
        ASSERT_TRUE(zone->request("k" + std::to_string(i), 0, slow, true).pass);
    }
    ASSERT_TRUE(zone->request("k0", 1, slow, true).pass);  // k0 is now the most recent
    EXPECT_EQ(zone->evictions(), 0u);
    ASSERT_TRUE(zone->request("new", 1, slow, true).pass);
    EXPECT_EQ(zone->evictions(), 1u);
    EXPECT_EQ(zone->used(), n);
    // k1 was evicted (its next request starts a new bucket: excess 0); k0 was kept (excess 2).
    EXPECT_EQ(zone->request("k0", 1, slow, false).excess, 2000);
    EXPECT_EQ(zone->request("k1", 1, slow, false).excess, 0);
    EXPECT_TRUE(zone->consistent());
}

TEST(ReqZone, ExpiredStatesAreForgottenAsRequestsCome) {
    auto zone = make_zone(conf::LimitZone::Kind::Req);
    zone->request("a", 0, kOnePerSecond, true);
    zone->request("b", 0, kOnePerSecond, true);
    zone->request("c", 5000, kOnePerSecond, true);
    EXPECT_EQ(zone->used(), 3u);                      // drained, but seen within a minute
    zone->request("c", 60'000, kOnePerSecond, true);  // a and b: a minute idle
    EXPECT_EQ(zone->used(), 1u);
}

TEST(ConnZone, CountsAcrossSlotsUpToTheLimit) {
    auto zone = make_zone(conf::LimitZone::Kind::Conn);
    EXPECT_EQ(zone->acquire("a", 2, 0), ConnOutcome::Counted);
    EXPECT_EQ(zone->acquire("a", 2, 1), ConnOutcome::Counted);
    EXPECT_EQ(zone->acquire("a", 2, 1), ConnOutcome::OverLimit);
    EXPECT_EQ(zone->acquire("b", 2, 1), ConnOutcome::Counted);
    zone->release("a", 0);
    EXPECT_EQ(zone->acquire("a", 2, 1), ConnOutcome::Counted);
    EXPECT_TRUE(zone->consistent());
}

TEST(ConnZone, TheLastReleaseFreesTheEntry) {
    auto zone = make_zone(conf::LimitZone::Kind::Conn);
    zone->acquire("a", 5, 0);
    zone->acquire("a", 5, 0);
    zone->release("a", 0);
    EXPECT_EQ(zone->used(), 1u);
    zone->release("a", 0);
    EXPECT_EQ(zone->used(), 0u);
}

// nginx refuses rather than forget a key that holds connections.
TEST(ConnZone, FullZoneRefusesNewKeys) {
    auto zone = make_zone(conf::LimitZone::Kind::Conn);
    for (uint32_t i = 0; i < zone->capacity(); ++i) {
        ASSERT_EQ(zone->acquire("k" + std::to_string(i), 1, 0), ConnOutcome::Counted);
    }
    EXPECT_EQ(zone->acquire("new", 1, 0), ConnOutcome::ZoneFull);
    zone->release("k3", 0);
    EXPECT_EQ(zone->acquire("new", 1, 0), ConnOutcome::Counted);
}

TEST(ConnZone, ResetSlotGivesBackThatSlotsCountsOnly) {
    auto zone = make_zone(conf::LimitZone::Kind::Conn);
    zone->acquire("a", 9, 3);
    zone->acquire("a", 9, 3);
    zone->acquire("a", 9, 4);
    zone->acquire("b", 9, 3);
    zone->reset_slot(3);
    EXPECT_EQ(zone->used(), 1u);  // b is gone, a keeps slot 4's count
    EXPECT_EQ(zone->acquire("a", 2, 4), ConnOutcome::Counted);
    EXPECT_EQ(zone->acquire("a", 2, 4), ConnOutcome::OverLimit);
}

// Counts taken in a forked child are seen by the parent: one mapping, not a copy.
TEST(ConnZone, SharedAcrossFork) {
    auto zone = make_zone(conf::LimitZone::Kind::Conn);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(zone->acquire("a", 1, 1) == ConnOutcome::Counted ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(zone->acquire("a", 1, 0), ConnOutcome::OverLimit);
}

// A child churning keys (taking and giving back counts, filling and evicting buckets) is
// SIGKILLed at varying moments, often inside the zone's lock. The parent must then find a
// consistent zone (repaired by its next lock), and after reset_slot of the child's slot no count
// of the child's may remain.
void churn(Zone& zone, int slot) {
    for (uint64_t i = 0;; ++i) {
        std::string key = "k" + std::to_string(i % 500);
        if (zone.kind() == conf::LimitZone::Kind::Conn) {
            if (zone.acquire(key, 1000, slot) == ConnOutcome::Counted && i % 3 == 0) {
                zone.release(key, slot);
            }
        } else {
            zone.request(key, static_cast<int64_t>(i), {1, 1000 * 1000, 0}, true);
        }
    }
}

void kill_while_churning(conf::LimitZone::Kind kind) {
    auto zone = make_zone(kind);
    constexpr int kChild = 5;
    for (int round = 0; round < 40; ++round) {
        pid_t pid = fork();
        if (pid == 0) {
            churn(*zone, kChild);
        }
        usleep(200 + 137 * round % 3000);
        kill(pid, SIGKILL);
        ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
        ASSERT_TRUE(zone->consistent()) << "round " << round;
        zone->reset_slot(kChild);
        if (kind == conf::LimitZone::Kind::Conn) {
            ASSERT_EQ(zone->used(), 0u) << "round " << round;
        }
    }
    EXPECT_TRUE(zone->consistent());
}

TEST(ZoneCrash, ConnZoneSurvivesAHolderKilledAnywhere) {
    kill_while_churning(conf::LimitZone::Kind::Conn);
}

TEST(ZoneCrash, ReqZoneSurvivesAHolderKilledAnywhere) {
    kill_while_churning(conf::LimitZone::Kind::Req);
}

}  // namespace
}  // namespace pushrelay::limit
