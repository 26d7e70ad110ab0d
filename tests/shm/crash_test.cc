// Crash consistency: a fork()ed child runs one store operation and SIGKILLs itself at its Nth crash
// point (shm/crash_point.h), for every N until the operation completes; the parent then locks
// (repairing), acts as the master would (reset_slot), and requires a consistent store that still
// works and, once everything is deleted and unpinned, gives every byte back.
// doc/shm-layout.md, "Crash consistency".
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <string>
#include <vector>

#include "shm/crash_point.h"
#include "tests/shm/store_fixture.h"

namespace pushrelay::shm {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;
constexpr int kParent = 1;  // the surviving worker's slot
constexpr int kChild = 2;   // the dying worker's slot
constexpr int kFresh = 3;   // a slot whose mailbox the dying worker creates
const char* const kKeys[] = {"g/a", "g/b", "g/new", "g/x"};

int crash_countdown = 0;

void count_down_to_crash() {
    if (--crash_countdown == 0) {
        raise(SIGKILL);
    }
}

// What one scenario's setup leaves for the test to give back or to refer to.
struct World {
    Store& store;
    std::vector<MessagePin> parent_pins;
    std::uint64_t uid = 0;
};

struct Scenario {
    const char* name;
    std::function<void(World&)> setup;
    std::function<void(World&)> operation;  // runs in the child
};

Store::SubscribeRequest hold(std::string_view key, int slot) {
    Store::SubscribeRequest request;
    request.key = key;
    request.slot = slot;
    request.now_ms = kT0;
    request.wait_for_new = true;
    return request;
}

void publish(Store& store, std::string_view key, std::string_view body,
             const ChannelLimits& limits = {}) {
    ASSERT_EQ(store.publish(key, "text/plain", "", body, limits, kT0).status, Status::Ok);
}

// Mailboxes (each with its pin ledger) stay for good once a slot has held a waiter; they are
// made before the baseline so that the baseline is what an empty store returns to.
std::uint64_t warm_up(Store& store, std::uint64_t& mailbox_bytes) {
    store.subscribe(hold("g/warm", kMaxWorkerSlots - 1));
    const std::uint64_t before = store.stats().free;
    for (const int slot : {kParent, kChild}) {
        const auto held = store.subscribe(hold("g/warm", slot));
        store.release_waiters("g/warm", held.uid, slot, 1, kT0);
        if (slot == kParent) {
            mailbox_bytes = before - store.stats().free;
        }
    }
    store.delete_channel("g/warm", kT0);
    store.reset_slot(kMaxWorkerSlots - 1, kT0);
    return store.stats().free;
}

// The store still does its job: publish, hold and wake, delete, expire.
void exercise(Store& store) {
    publish(store, "g/x", "after");
    auto request = hold("g/x", kParent);
    request.wait_for_new = false;
    request.hold = false;
    auto polled = store.subscribe(request);
    ASSERT_TRUE(polled.message);
    EXPECT_EQ(store.view(polled.message).body, "after");
    store.unpin(polled.message);

    const auto held = store.subscribe(hold("g/x", kParent));
    ASSERT_TRUE(held.held);
    EXPECT_EQ(store.publish("g/x", "", "", "woken", {}, kT0).wake_slots_mask, bit(kParent));
    std::vector<Store::Event> events;
    bool overflowed = false;
    store.drain_mailbox(kParent, events, overflowed);
    bool woken = false;
    for (Store::Event& event : events) {
        if (event.kind == Store::Event::Published && event.uid == held.uid) {
            woken = store.view(event.message).body == "woken";
            store.record_delivery("g/x", held.uid, kParent, 1, 1, event.message, kT0);
        }
        store.unpin(event.message);
    }
    EXPECT_TRUE(woken);
    EXPECT_EQ(store.delete_channel("g/x", kT0).status, Status::Ok);
    store.expire(kT0 + 86'400'000);
}

// Deletes every channel and gives back every pin the parent holds.
void tear_down(World& world) {
    for (const char* key : kKeys) {
        world.store.delete_channel(key, kT0);
    }
    for (MessagePin& pin : world.parent_pins) {
        world.store.unpin(pin);
    }
    std::vector<Store::Event> events;
    bool overflowed = false;
    world.store.drain_mailbox(kParent, events, overflowed);
    for (Store::Event& event : events) {
        world.store.unpin(event.message);
    }
}

std::string describe_problems(const std::vector<std::string>& problems) {
    std::string text;
    for (const std::string& problem : problems) {
        text += "\n  " + problem;
    }
    return text;
}

// Returns false once the operation ran to its end without reaching crash point `point`.
bool crash_at(const Scenario& scenario, int point) {
    Segment segment = make_segment(4 << 20);
    Store store = open_store(segment);
    std::uint64_t mailbox_bytes = 0;
    const std::uint64_t baseline = warm_up(store, mailbox_bytes);
    World world{store, {}, 0};
    scenario.setup(world);
    const std::string where = std::string(scenario.name) + ", crash point " + std::to_string(point);

    const int status = run_in_child([&] {
        crash_countdown = point;
        crash_hook = count_down_to_crash;
        scenario.operation(world);
    });
    const bool killed = WIFSIGNALED(status);
    if (killed) {
        EXPECT_EQ(WTERMSIG(status), SIGKILL) << where;
    } else {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << where;
    }

    Watchdog watchdog(20);
    const auto after_crash = store.check();
    EXPECT_TRUE(after_crash.empty()) << where << describe_problems(after_crash);
    EXPECT_EQ(store.stats().lock_recoveries, killed ? 1u : 0u) << where;
    store.reset_slot(kChild, kT0);
    store.reset_slot(kFresh, kT0);
    const auto after_reset = store.check();
    EXPECT_TRUE(after_reset.empty()) << where << describe_problems(after_reset);

    exercise(store);
    tear_down(world);
    const auto at_end = store.check();
    EXPECT_TRUE(at_end.empty()) << where << describe_problems(at_end);
    const Store::Stats stats = store.stats();
    EXPECT_EQ(stats.channels, 0u) << where;
    EXPECT_EQ(stats.subscribers, 0u) << where;
    // A mailbox the child created for kFresh stays, as every slot's does.
    const std::uint64_t kept = segment.root()->mailboxes[kFresh] ? mailbox_bytes : 0;
    EXPECT_EQ(stats.free + kept, baseline) << where << ": bytes leaked";
    return killed;
}

class CrashTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(CrashTest, EveryCrashPointLeavesARepairableStore) {
    const Scenario& scenario = GetParam();
    int point = 1;
    while (crash_at(scenario, point) && !HasFailure()) {
        ++point;
    }
    EXPECT_GT(point, 1) << scenario.name << " passed no crash point at all";
    RecordProperty("crash_points", point - 1);
}

const ChannelLimits kThree{.max_buffer = 3};

// Redis mode's cache: a message as the relay inserts it, Redis' id given.
Store::RemoteMessage remote(std::string_view key, std::uint32_t tag, std::string_view body) {
    Store::RemoteMessage m;
    m.key = key;
    m.gen = 7;
    m.id = core::MessageId{kT0 / 1000, tag};
    m.body = body;
    m.limits = kThree;
    return m;
}

// Fills the segment with 256 KiB messages on "g/b", a live cache no waiter needs, leaving a
// hole for exercise() afterwards.
void fill_with_cache(World& w) {
    Store& store = w.store;
    publish(store, "g/x", std::string(16 << 10, 'r'));
    const ChannelLimits many{.max_buffer = 100000};
    while (store.publish("g/b", "", "", std::string(256 << 10, 'b'), many, kT0).status ==
           Status::Ok) {
    }
    store.delete_channel("g/x", kT0);
    store.set_remote_live("g/b", 7, std::nullopt, many, kT0);
}

const Scenario kScenarios[] = {
    {"publish trimming a channel with waiters on two slots",
     [](World& w) {
         for (const char* body : {"1", "2", "3"}) {
             publish(w.store, "g/a", body, kThree);
         }
         w.store.subscribe(hold("g/a", kParent));
         w.store.subscribe(hold("g/a", kChild));
     },
     [](World& w) { w.store.publish("g/a", "", "", "4", kThree, kT0); }},
    {"publish creating its channel", [](World& w) { publish(w.store, "g/a", "elsewhere"); },
     [](World& w) { w.store.publish("g/new", "", "", "1", {}, kT0); }},
    {"unstored publish to waiters",
     [](World& w) {
         w.store.subscribe(hold("g/a", kParent));
         w.store.subscribe(hold("g/a", kChild));
     },
     [](World& w) { w.store.publish("g/a", "", "", "1", {.store_messages = false}, kT0); }},
    {"delete a channel with messages, waiters and a pinned message",
     [](World& w) {
         publish(w.store, "g/a", "1");
         publish(w.store, "g/a", "2");
         auto request = hold("g/a", kParent);
         request.wait_for_new = false;
         request.hold = false;
         w.parent_pins.push_back(w.store.subscribe(request).message);
         w.store.subscribe(hold("g/a", kParent));
         w.store.subscribe(hold("g/a", kChild));
     },
     [](World& w) { w.store.delete_channel("g/a", kT0); }},
    {"expire messages and an idle channel",
     [](World& w) {
         const ChannelLimits brief{.min_buffer = 0, .message_timeout_ms = 1000};
         publish(w.store, "g/a", "1", brief);
         publish(w.store, "g/a", "2", brief);
         publish(w.store, "g/b", "3", brief);
         w.store.subscribe(hold("g/b", kParent));
     },
     [](World& w) { w.store.expire(kT0 + 60'000); }},
    {"expire messages behind one that never expires, one of them pinned",
     [](World& w) {
         const ChannelLimits never{.message_timeout_ms = 0};
         const ChannelLimits brief{.message_timeout_ms = 1000};
         publish(w.store, "g/a", "1", never);
         publish(w.store, "g/a", "2", brief);
         publish(w.store, "g/a", "3", never);
         publish(w.store, "g/a", "4", brief);
         auto request = hold("g/a", kParent);
         request.wait_for_new = false;
         request.hold = false;
         request.since = core::MessageId{kT0 / 1000, 0};
         w.parent_pins.push_back(w.store.subscribe(request).message);
     },
     [](World& w) { w.store.expire(kT0 + 60'000); }},
    {"subscribe finding a message (the pin is the child's)",
     [](World& w) {
         publish(w.store, "g/a", "1");
         publish(w.store, "g/a", "2");
     },
     [](World& w) {
         auto request = hold("g/a", kChild);
         request.wait_for_new = false;
         w.store.subscribe(request);
     }},
    {"subscribe `last` creating its channel and kicking",
     [](World& w) { w.store.subscribe(hold("g/b", kParent)); },
     [](World& w) {
         auto request = hold("g/a", kChild);
         request.concurrency = Store::Concurrency::Last;
         w.store.subscribe(request);
         request.key = "g/b";
         w.store.subscribe(request);
     }},
    {"release the last waiter of a channel a subscriber made (it goes)",
     [](World& w) { w.uid = w.store.subscribe(hold("g/a", kChild)).uid; },
     [](World& w) { w.store.release_waiters("g/a", w.uid, kChild, 1, kT0); }},
    {"publish adopting a channel a subscriber made",
     [](World& w) { w.store.subscribe(hold("g/a", kParent)); },
     [](World& w) { publish(w.store, "g/a", "adopted"); }},
    {"subscribe creating its slot's mailbox", [](World&) {},
     [](World& w) { w.store.subscribe(hold("g/a", kFresh)); }},
    {"drain, deliver and unpin",
     [](World& w) {
         w.uid = w.store.subscribe(hold("g/a", kChild)).uid;
         w.store.subscribe(hold("g/a", kParent));
         for (const char* body : {"1", "2", "3"}) {
             publish(w.store, "g/a", body);
         }
     },
     [](World& w) {
         std::vector<Store::Event> events;
         bool overflowed = false;
         w.store.drain_mailbox(kChild, events, overflowed);
         w.store.record_delivery("g/a", w.uid, kChild, 1, 1, events[0].message, kT0);
         for (Store::Event& event : events) {
             w.store.unpin(event.message);
         }
     }},
    {"resync with find_next",
     [](World& w) {
         w.uid = w.store.subscribe(hold("g/a", kChild)).uid;
         publish(w.store, "g/a", "1");
     },
     [](World& w) {
         auto next = w.store.find_next("g/a", w.uid, core::MessageId{0, 0}, kT0, kChild);
         w.store.unpin(next.message);
         w.store.find_next("g/a", w.uid, core::MessageId{0, 0}, kT0, kChild);
     }},
    {"reset_slot of a slot with waiters, events and pins",
     [](World& w) {
         w.store.subscribe(hold("g/a", kChild));
         w.store.subscribe(hold("g/b", kChild));
         publish(w.store, "g/a", "1");
         publish(w.store, "g/a", "2");
         std::vector<Store::Event> drained;
         bool overflowed = false;
         w.store.drain_mailbox(kChild, drained, overflowed);
         publish(w.store, "g/a", "3");
     },
     [](World& w) { w.store.reset_slot(kChild, kT0); }},
    {"insert_remote to waiters on two slots, trimming by limits and by oldest_kept",
     [](World& w) {
         w.store.set_remote_live("g/a", 7, std::nullopt, kThree, kT0);
         for (const std::uint32_t tag : {1u, 2u, 3u}) {
             w.store.insert_remote(remote("g/a", tag, "r"), kT0);
         }
         w.store.subscribe(hold("g/a", kParent));
         w.store.subscribe(hold("g/a", kChild));
     },
     [](World& w) {
         Store::RemoteMessage m = remote("g/a", 4, "4");
         m.oldest_kept = core::MessageId{kT0 / 1000, 3};
         w.store.insert_remote(m, kT0);
     }},
    {"insert_remote creating its channel and evicting another's cache", fill_with_cache,
     [](World& w) {
         const std::string body(256 << 10, 'n');
         w.store.insert_remote(remote("g/a", 1, body), kT0);
     }},
    {"set_remote_live posting Live to the wanting slots",
     [](World& w) {
         w.store.want_remote("g/a", kParent, {}, kT0);
         w.store.want_remote("g/a", kChild, {}, kT0);
     },
     [](World& w) {
         w.store.set_remote_live("g/a", 7, core::MessageId{kT0 / 1000, 9}, {}, kT0);
     }},
};

INSTANTIATE_TEST_SUITE_P(Operations, CrashTest, ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                             return "Scenario" + std::to_string(info.index);
                         });

}  // namespace
}  // namespace pushrelay::shm
