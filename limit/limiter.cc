#include "limit/limiter.h"

#include <algorithm>
#include <cinttypes>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/peer_address.h"
#include "http/request_vars.h"
#include "protocol/response.h"

namespace pushrelay::limit {
namespace {

using Level = log::Level;

// The zone's key for this request; runs the location's `set`s only when the key reads one.
std::string key_of(const conf::LimitZone& zone, const http::Exchange& exchange) {
    conf::RequestVars vars = http::request_vars(exchange);
    if (!zone.key.reads_set_variables()) {
        return zone.key.expand(vars);
    }
    conf::SetVariables sets(exchange.location().sets, vars);
    vars.variable = [&sets](std::string_view name) { return sets.find(name); };
    return zone.key.expand(vars);
}

// nginx logs a delay one level below limit_req_log_level (info stays info).
Level delay_level(Level level) {
    return level == Level::Info ? Level::Info : static_cast<Level>(static_cast<int>(level) - 1);
}

int64_t now_ms() {
    return static_cast<int64_t>(core::monotonic_us() / 1000);
}

// The counts one request holds in limit_conn zones until its exchange ends.
struct HeldCounts {
    std::vector<std::pair<Zone*, std::string>> counts;
    int slot;

    void release() const {
        for (const auto& [zone, key] : counts) zone->release(key, slot);
    }
};

}  // namespace

// A request waiting out its limit_req delay. It observes its exchange, so that a client that
// leaves cancels the timer, and is owned by the Limiter's list.
class Limiter::Delayed final : public http::ExchangeObserver {
  public:
    Delayed(Limiter& owner, http::Exchange& exchange, int64_t delay_ms)
        : owner_(owner), exchange_(exchange), loop_(exchange.loop()) {
        ev_timer_init(&timer_, on_timer, static_cast<double>(delay_ms) / 1000.0, 0.);
        timer_.data = this;
        ev_timer_start(loop_, &timer_);
        exchange_.set_observer(this);
    }
    ~Delayed() override { ev_timer_stop(loop_, &timer_); }
    Delayed(const Delayed&) = delete;
    Delayed& operator=(const Delayed&) = delete;

    void exchange_aborted() override { owner_.delayed_.erase(self_); }

    std::list<Delayed>::iterator self_;

  private:
    static void on_timer(struct ev_loop*, ev_timer* w, int) {
        auto* self = static_cast<Delayed*>(w->data);
        Limiter& owner = self->owner_;
        http::Exchange& exchange = self->exchange_;
        exchange.set_observer(nullptr);
        owner.delayed_.erase(self->self_);  // deletes self
        owner.limit_connections(exchange);
    }

    Limiter& owner_;
    http::Exchange& exchange_;
    struct ev_loop* loop_;
    ev_timer timer_;
};

Limiter::Limiter(http::Handler& next, const conf::Config& config, const ZoneSet& zones, int slot)
    : next_(next), config_(config), zones_(zones), slot_(slot) {}

Limiter::~Limiter() = default;

void Limiter::handle(http::Exchange& exchange) {
    const conf::LimitSettings& limits = exchange.location().http.limits;
    if (limits.empty()) {
        next_.handle(exchange);
        return;
    }
    std::optional<int64_t> delay = limit_requests(exchange);
    if (!delay) {
        return;
    }
    if (*delay > 0) {
        wait(exchange, *delay);
        return;
    }
    limit_connections(exchange);
}

std::optional<int64_t> Limiter::limit_requests(http::Exchange& exchange) {
    const conf::LimitSettings& limits = exchange.location().http.limits;
    int64_t now = now_ms();
    int64_t delay = 0;
    // Two passes, as nginx: all but the last rule are checked without accounting, so that a
    // refusal by a later rule costs the earlier zones nothing; then every rule is accounted
    // (the last one's accounting is its check). Each zone locks on its own, so another worker
    // may count in between: the account pass can still refuse.
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < limits.req.size(); ++i) {
            bool account = pass == 1;
            if (!account && i + 1 == limits.req.size()) {
                break;
            }
            const conf::LimitReqRule& rule = limits.req[i];
            const conf::LimitZone& zone = config_.limit_zones[rule.origin.zone];
            std::string key = key_of(zone, exchange);
            if (key.empty()) {
                continue;
            }
            BucketDecision decision =
                zones_.at(rule.origin.zone)
                    .request(key, now, {zone.rate, rule.burst, rule.delay}, account);
            if (!decision.pass) {
                LOG_PRINT(limits.req_log_level,
                          "limiting requests, excess: %" PRId64 ".%03" PRId64
                          " by zone \"%s\", client: %s",
                          decision.excess / 1000, decision.excess % 1000, zone.name.c_str(),
                          core::peer_address(exchange.peer()).c_str());
                refuse(exchange, limits.req_status, "request rate limited");
                return std::nullopt;
            }
            if (account && decision.delay > delay) {
                delay = decision.delay;
                LOG_PRINT(delay_level(limits.req_log_level),
                          "delaying request %" PRId64 "ms, excess: %" PRId64 ".%03" PRId64
                          ", by zone \"%s\", client: %s",
                          delay, decision.excess / 1000, decision.excess % 1000, zone.name.c_str(),
                          core::peer_address(exchange.peer()).c_str());
            }
        }
    }
    return delay;
}

void Limiter::wait(http::Exchange& exchange, int64_t delay_ms) {
    Delayed& delayed = delayed_.emplace_back(*this, exchange, delay_ms);
    delayed.self_ = std::prev(delayed_.end());
}

void Limiter::limit_connections(http::Exchange& exchange) {
    const conf::LimitSettings& limits = exchange.location().http.limits;
    HeldCounts held{{}, slot_};
    for (const conf::LimitConnRule& rule : limits.conn) {
        const conf::LimitZone& zone = config_.limit_zones[rule.origin.zone];
        std::string key = key_of(zone, exchange);
        if (key.empty()) {
            continue;
        }
        Zone& counts = zones_.at(rule.origin.zone);
        ConnOutcome outcome = counts.acquire(key, rule.limit, slot_);
        if (outcome != ConnOutcome::Counted) {
            held.release();
            LOG_PRINT(limits.conn_log_level, "%s by zone \"%s\", client: %s",
                      outcome == ConnOutcome::ZoneFull ? "zone is full, limiting connections"
                                                       : "limiting connections",
                      zone.name.c_str(), core::peer_address(exchange.peer()).c_str());
            refuse(exchange, limits.conn_status, "too many connections");
            return;
        }
        held.counts.emplace_back(&counts, std::move(key));
    }
    // Before the next handler: it may end the exchange at once.
    if (!held.counts.empty()) {
        exchange.on_end([held = std::move(held)] { held.release(); });
    }
    next_.handle(exchange);
}

// A text answer, with the push location's CORS header so that a page on another origin can see
// the status (and back off) rather than a network error.
void Limiter::refuse(http::Exchange& exchange, int status, std::string_view reason) {
    std::vector<protocol::Header> headers{{"Content-Type", "text/plain"}};
    const conf::PushSettings& push = exchange.location().push;
    if (push.role != conf::Role::None) {
        headers.push_back({"Access-Control-Allow-Origin", push.allow_origin});
    }
    exchange.respond(status, headers, protocol::error_body(status, reason));
}

}  // namespace pushrelay::limit
