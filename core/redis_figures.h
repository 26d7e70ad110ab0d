// core/redis_figures.h — Redis mode's status figures (shared/scale-out.md "Status and metrics"):
// counted by every process of a node in the shared segment (shm/), reported by push_stub_status.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pushrelay::core {

// The counters, each added to by whichever process saw the event.
enum class RedisCounter : std::uint8_t {
    Connects,     // (re)connections that completed setup, all processes
    Commands,     // commands sent
    Errors,       // error replies and timeouts
    Resyncs,      // channels resynced by the relay
    Recovered,    // messages recovered by a resync or a gap fetch
    CacheHits,    // subscriber requests answered or held from the cache
    CacheMisses,  // subscriber requests that needed Redis
    Unavailable,  // publishes answered 503
};
inline constexpr std::size_t kRedisCounters = 8;

struct RedisFigures {
    bool up = false;             // the relay and every worker connected, scripts loaded
    std::uint64_t channels = 0;  // channels the relay is subscribed to
    std::uint64_t counters[kRedisCounters] = {};

    std::uint64_t count(RedisCounter counter) const {
        return counters[static_cast<std::size_t>(counter)];
    }
};

}  // namespace pushrelay::core
