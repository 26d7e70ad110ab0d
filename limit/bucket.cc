#include "limit/bucket.h"

namespace pushrelay::limit {
namespace {

int64_t elapsed_ms(const BucketState& state, int64_t now) {
    int64_t ms = now - state.last;
    if (ms < -60000) {
        return 1;
    }
    return ms < 0 ? 0 : ms;
}

int64_t leaked(const BucketState& state, int64_t now, uint64_t rate) {
    return state.excess - static_cast<int64_t>(rate) * elapsed_ms(state, now) / 1000;
}

}  // namespace

BucketDecision leak(const std::optional<BucketState>& state, int64_t now, const BucketRule& rule) {
    BucketDecision decision;
    if (!state) {
        decision.pass = true;
        decision.next = {0, now};
        return decision;
    }
    int64_t excess = leaked(*state, now, rule.rate) + 1000;
    if (excess < 0) {
        excess = 0;
    }
    decision.excess = excess;
    if (static_cast<uint64_t>(excess) > rule.burst) {
        return decision;
    }
    decision.pass = true;
    // nginx moves `last` only when time passed, so that the leak of a partial millisecond is
    // not lost to rounding on every request of a burst.
    decision.next = {excess, elapsed_ms(*state, now) != 0 ? now : state->last};
    if (static_cast<uint64_t>(excess) > rule.delay) {
        decision.delay =
            (excess - static_cast<int64_t>(rule.delay)) * 1000 / static_cast<int64_t>(rule.rate);
    }
    return decision;
}

bool expired(const BucketState& state, int64_t now, uint64_t rate) {
    constexpr int64_t kIdle = 60000;
    int64_t idle = now > state.last ? now - state.last : state.last - now;
    return idle >= kIdle && state.excess - static_cast<int64_t>(rate) * idle / 1000 <= 0;
}

}  // namespace pushrelay::limit
