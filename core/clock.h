// core/clock.h — the two clocks every process reads.
//
// Message ids and expiry use the wall clock (they travel to clients as HTTP dates); intervals
// (timeouts, systemd's RELOADING stamp) use the monotonic clock. A worker's loop caches its own
// wall time per iteration (ev_now); these are for code outside a loop, such as the master.
#pragma once

#include <cstdint>

namespace pushrelay::core {

// Milliseconds since the epoch.
std::int64_t wall_clock_ms() noexcept;

// Microseconds of CLOCK_MONOTONIC.
std::uint64_t monotonic_us() noexcept;

}  // namespace pushrelay::core
