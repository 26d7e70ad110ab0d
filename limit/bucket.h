// limit/bucket.h — nginx's leaky bucket (limit_req), as a pure function of the state and the time.
//
// Owned by limit/; called by limit/zone.cc with the zone's lock held, and by the unit tests with
// an injected clock. No state, no I/O. The arithmetic is nginx's (ngx_http_limit_req_module.c):
// excess and burst in milli-requests, the rate in milli-requests per second, times in ms.
#pragma once

#include <cstdint>
#include <optional>

namespace pushrelay::limit {

// One key's bucket: how far ahead of the rate its requests are, and when it last counted.
struct BucketState {
    int64_t excess = 0;  // milli-requests, >= 0
    int64_t last = 0;    // ms of the clock the caller uses (monotonic)
};

// What a limit_req rule allows.
struct BucketRule {
    uint64_t rate = 1000;  // milli-requests per second, >= 1 (1r/s is 1000, 1r/m is 16)
    uint64_t burst = 0;    // milli-requests the excess may reach
    uint64_t delay = 0;    // milli-requests of excess served at once; above it a request waits
};

struct BucketDecision {
    bool pass = false;
    BucketState next;    // the state to store if the request is accounted (pass only)
    int64_t excess = 0;  // milli-requests with this request counted, for logs
    int64_t delay = 0;   // ms the request must wait before it is served (pass only)
};

// A request arriving at `now` against `state` (nullopt: the key has no bucket yet, and its first
// request passes with excess 0 at once). The bucket leaks rate*elapsed, then takes this request
// (1000); above burst it refuses. A clock that went back more than 60s counts as 1ms elapsed,
// less as none, as nginx does.
BucketDecision leak(const std::optional<BucketState>& state, int64_t now, const BucketRule& rule);

// Whether a bucket may be forgotten: unused for a minute (either way on the clock) and drained,
// nginx's test before it frees a state ahead of need.
bool expired(const BucketState& state, int64_t now, uint64_t rate);

}  // namespace pushrelay::limit
