// The store's one lock: a process-shared, robust pthread mutex placed inside the shared segment.
//
// Used by master and workers alike, but only through shm/store.cc: callers of the store never
// lock. Robust because a worker may be SIGKILLed while holding it; the next locker then gets
// EOWNERDEAD, marks the mutex consistent, counts the recovery and carries on with whatever state
// the dead holder left (each store operation keeps the store walkable at every step it can be
// killed at; see doc/shm-layout.md, "Lock discipline").
//
// Thread safety: one RobustMutex serialises every process mapping the segment.
// Invariants: recoveries() only changes while the mutex is held.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <type_traits>

namespace pushrelay::shm {

class RobustMutex {
  public:
    RobustMutex() = default;
    RobustMutex(const RobustMutex&) = delete;
    RobustMutex& operator=(const RobustMutex&) = delete;

    // Initialises the mutex in place (it must already sit at its final address in the segment).
    // Returns 0 or the errno value of the failing pthread call.
    int init() noexcept;

    // Blocks until held. A dead owner is recovered from (counted); any other failure is a broken
    // invariant of this program and aborts, naming the call and the error.
    void lock() noexcept;
    void unlock() noexcept;

    // Times the lock was taken over from a dead owner. Read it with the mutex held.
    std::uint64_t recoveries() const noexcept { return recoveries_; }

  private:
    pthread_mutex_t mutex_;
    std::uint64_t recoveries_ = 0;
};

// Mapped by processes that share no constructor run: the object must be usable from its bytes.
static_assert(std::is_standard_layout_v<RobustMutex>,
              "RobustMutex lives in shared memory and is used from every process's mapping");

// Holds a RobustMutex for its scope.
class LockGuard {
  public:
    explicit LockGuard(RobustMutex& mutex) noexcept : mutex_(mutex) { mutex_.lock(); }
    ~LockGuard() { mutex_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

  private:
    RobustMutex& mutex_;
};

}  // namespace pushrelay::shm
