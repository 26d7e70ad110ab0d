// The store's one lock: a process-shared, robust pthread mutex placed inside the shared segment.
//
// Used by master and workers alike, but only through shm/store.cc: callers of the store never
// lock. Robust because a worker may be SIGKILLed while holding it; the next locker then gets
// EOWNERDEAD, marks the mutex consistent, counts the recovery and tells its caller, which repairs
// whatever the dead holder left half done (shm/repair.h; doc/shm-layout.md, "Crash consistency").
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

    // Blocks until held. True when the previous owner died holding it: the mutex is usable again
    // (and the recovery counted), but what it guards must be repaired before use. Any other
    // failure is a broken invariant of this program and aborts, naming the call and the error.
    [[nodiscard]] bool lock() noexcept;
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

}  // namespace pushrelay::shm
