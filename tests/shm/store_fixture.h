// Shared by the tests/shm/*_test.cc files: a fresh small segment and store per test, and short
// helpers for the calls the tests repeat.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shm/layout.h"
#include "shm/segment.h"
#include "shm/store.h"

namespace pushrelay::shm {

// Store's friend: the lock is private because callers never take it; the process tests must.
struct StoreTestAccess {
    static RobustMutex& lock(Store& store) { return store.root_->lock; }
};

inline Segment make_segment(std::size_t bytes) {
    auto created = Segment::create(bytes);
    if (auto* error = std::get_if<std::string>(&created)) {
        std::fprintf(stderr, "Segment::create: %s\n", error->c_str());
        std::abort();
    }
    return std::move(std::get<Segment>(created));
}

inline Store open_store(Segment& segment) {
    auto opened = Store::open(segment);
    if (auto* error = std::get_if<std::string>(&opened)) {
        std::fprintf(stderr, "Store::open: %s\n", error->c_str());
        std::abort();
    }
    return std::move(std::get<Store>(opened));
}

class StoreTest : public ::testing::Test {
  protected:
    static constexpr std::size_t kSegmentBytes = 4 << 20;
    static constexpr std::int64_t kT0 = 1'700'000'000'000;  // a wall-clock time in ms

    explicit StoreTest(std::size_t bytes = kSegmentBytes)
        : segment_(make_segment(bytes)), store_(open_store(segment_)) {}

    Store::PublishResult publish(std::string_view key, std::string_view body, std::int64_t now_ms,
                                 const ChannelLimits& limits = {}) {
        return store_.publish(key, "text/plain", "", body, limits, now_ms);
    }

    // A long-poll request with defaults; tests change fields before passing it on.
    static Store::SubscribeRequest request(std::string_view key, std::int64_t now_ms,
                                           std::optional<core::MessageId> since = std::nullopt,
                                           int slot = 0) {
        Store::SubscribeRequest request;
        request.key = key;
        request.since = since;
        request.slot = slot;
        request.now_ms = now_ms;
        return request;
    }

    // The body of a matched message; unpins it.
    std::string take_body(MessagePin& pin) {
        EXPECT_TRUE(pin);
        if (!pin) {
            return {};
        }
        std::string body(store_.view(pin).body);
        store_.unpin(pin);
        return body;
    }

    // Subscribes without holding and returns the body of the message found ("" if none).
    std::string poll(std::string_view key, std::optional<core::MessageId> since,
                     std::int64_t now_ms) {
        Store::SubscribeRequest r = request(key, now_ms, since);
        r.hold = false;
        Store::SubscribeResult result = store_.subscribe(r);
        EXPECT_EQ(result.status, Status::Ok);
        return result.message ? take_body(result.message) : std::string();
    }

    std::vector<Store::Event> drain(int slot, bool* overflowed = nullptr) {
        std::vector<Store::Event> events;
        bool lost = false;
        store_.drain_mailbox(slot, events, lost);
        if (overflowed != nullptr) {
            *overflowed = lost;
        }
        return events;
    }

    void unpin_all(std::vector<Store::Event>& events) {
        for (Store::Event& event : events) {
            store_.unpin(event.message);
        }
    }

    std::uint64_t messages_in(std::string_view key, std::int64_t now_ms) {
        auto info = store_.info(key, now_ms);
        EXPECT_TRUE(info.has_value());
        return info ? info->messages : 0;
    }

    Segment segment_;
    Store store_;
};

// Runs `child` in a fork()ed process that leaves with _exit (never returning into gtest) and
// returns its wait status.
template <typename Child>
inline int run_in_child(Child child) {
    const pid_t pid = fork();
    if (pid == 0) {
        child();
        _exit(0);
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

// A lock that never comes back would hang the test binary; SIGALRM ends it instead.
class Watchdog {
  public:
    explicit Watchdog(unsigned seconds) { alarm(seconds); }
    ~Watchdog() { alarm(0); }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
};

inline std::uint64_t bit(int slot) {
    return std::uint64_t{1} << slot;
}

}  // namespace pushrelay::shm
