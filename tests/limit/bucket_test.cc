// limit/bucket.h against the examples of nginx's limit_req documentation, with an injected clock:
// each test feeds leak() the times it wants and carries the state from one request to the next.
#include "limit/bucket.h"

#include <gtest/gtest.h>

#include <vector>

namespace pushrelay::limit {
namespace {

constexpr uint64_t kPerSecond = 1000;  // rate=1r/s

// One key's requests, accounted as a zone does: the state moves only when a request passes.
class Key {
  public:
    explicit Key(BucketRule rule) : rule_(rule) {}

    BucketDecision at(int64_t now) {
        BucketDecision d = leak(state_, now, rule_);
        if (d.pass) {
            state_ = d.next;
        }
        return d;
    }

    // The delays (ms) of n requests at `now`; -1 for a refusal.
    std::vector<int64_t> burst(int n, int64_t now) {
        std::vector<int64_t> delays;
        for (int i = 0; i < n; ++i) {
            BucketDecision d = at(now);
            delays.push_back(d.pass ? d.delay : -1);
        }
        return delays;
    }

  private:
    BucketRule rule_;
    std::optional<BucketState> state_;
};

BucketRule rule(uint64_t rate, uint64_t burst, uint64_t delay) {
    return {rate, burst * 1000, delay * 1000};
}

// "limit_req zone=one burst=5;" with rate=1r/s: excess requests are delayed to the rate until
// more than 5 wait, then refused.
TEST(LeakyBucket, BurstDelaysToTheRateThenRefuses) {
    Key key(rule(kPerSecond, 5, 0));
    EXPECT_EQ(key.burst(7, 10'000), (std::vector<int64_t>{0, 1000, 2000, 3000, 4000, 5000, -1}));
}

// "burst=5 nodelay": the burst is served at once, and the bucket still drains at the rate.
TEST(LeakyBucket, NodelayServesTheBurstAtOnce) {
    Key key(rule(kPerSecond, 5, 5));
    EXPECT_EQ(key.burst(7, 0), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, -1}));
    EXPECT_FALSE(key.at(999).pass);  // not one request has leaked yet
    EXPECT_TRUE(key.at(1000).pass);  // one has
    EXPECT_FALSE(key.at(1000).pass);
}

// "burst=12 delay=8" (nginx's two-stage limiting): the first request and 8 excess ones at once,
// the next 4 delayed to the rate (5r/s: 200ms apart), then refusals.
TEST(LeakyBucket, DelayParameterServesSomeAtOnceAndDelaysTheRest) {
    Key key(rule(5 * kPerSecond, 12, 8));
    EXPECT_EQ(key.burst(14, 0),
              (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 400, 600, 800, -1}));
}

// Without burst, one request per 1/rate: the second at once is refused.
TEST(LeakyBucket, NoBurstAllowsExactlyTheRate) {
    Key key(rule(10 * kPerSecond, 0, 0));
    for (int64_t t = 0; t < 2000; t += 100) {
        EXPECT_TRUE(key.at(t).pass) << t;
        EXPECT_FALSE(key.at(t + 50).pass) << t;
    }
}

// rate=1r/m is 16 milli-requests per second in nginx (1000/60 rounded down): with burst=2
// nodelay three requests pass, and the next one after 62.5s.
TEST(LeakyBucket, PerMinuteRateKeepsNginxRounding) {
    Key key(rule(1000 / 60, 2, 2));
    EXPECT_EQ(key.burst(4, 0), (std::vector<int64_t>{0, 0, 0, -1}));
    EXPECT_FALSE(key.at(62'000).pass);
    EXPECT_TRUE(key.at(62'500).pass);
}

// The excess a refusal reports counts the refused request (nginx logs it so).
TEST(LeakyBucket, RefusalReportsTheExcess) {
    Key key(rule(kPerSecond, 1, 1));
    key.burst(2, 0);
    BucketDecision refused = key.at(0);
    EXPECT_FALSE(refused.pass);
    EXPECT_EQ(refused.excess, 2000);
}

// A clock that jumps back more than a minute counts as 1ms; less, as no time at all.
TEST(LeakyBucket, ClockGoingBack) {
    BucketRule r = rule(kPerSecond, 5, 5);
    BucketState state{3000, 100'000};
    EXPECT_EQ(leak(state, 99'000, r).excess, 4000);  // no time passed
    EXPECT_EQ(leak(state, 0, r).excess, 4000 - 1);   // 1ms at 1r/s leaks 1 milli-request
}

TEST(LeakyBucket, ExpiresAfterAMinuteIdleOnceDrained) {
    EXPECT_FALSE(expired({0, 0}, 59'999, kPerSecond));
    EXPECT_TRUE(expired({0, 0}, 60'000, kPerSecond));
    EXPECT_TRUE(expired({0, 60'000}, 0, kPerSecond));            // the clock went back a minute
    EXPECT_FALSE(expired({61'000'000, 0}, 60'000, kPerSecond));  // not drained yet
}

}  // namespace
}  // namespace pushrelay::limit
