#include "bench/loadgen/scenarios.h"

#include <ev.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/loadgen/http_client.h"
#include "bench/loadgen/stats.h"
#include "bench/loadgen/subscribers.h"

namespace pushrelay::bench {
namespace {

constexpr double kChurnTick = 0.01;  // seconds between two churn publish batches
constexpr double kWatchdog = 0.2;    // seconds between two checks for a failed run
constexpr double kOpenTick = 0.01;   // seconds between two batches of subscribers (open_rate)
// A round outstanding with no delivery for this long has stalled (a server lost a message).
constexpr uint64_t kStallNs = 15'000'000'000;

// Posts messages one at a time (so a channel's messages arrive in sequence
// order) from a queue of (channel, seq); the send timestamp is taken when
// the request is written. Push publishing: `POST /pub?id=`, the stamp as the body, 201/202;
// GRIP: one item per request to `POST /publish/`, the stamp as the `http-response` body or
// the `http-stream` content (one line), 200.
class Publisher final : public Client::Handler {
  public:
    using Done = std::function<void(int channel, uint64_t seq, const Response& response)>;

    Publisher(struct ev_loop* loop, const Options& opts, const sockaddr_in& server,
              ConnectGate& gate, Tally& tally, Latencies& latencies, Done done)
        : opts_(opts),
          tally_(tally),
          latencies_(latencies),
          done_(std::move(done)),
          client_(loop, server, gate, *this) {}

    void enqueue(int channel, uint64_t seq) {
        queue_.push_back({channel, seq});
        if (!client_.in_flight())
            send_next();
    }
    bool idle() const { return queue_.empty() && !client_.in_flight(); }

    void on_response(Client&, Response& response) override {
        latencies_.add_ns(monotonic_ns() - sent_ns_);
        Item item = queue_.front();
        queue_.pop_front();
        bool accepted = is_grip(opts_) ? response.status == 200
                                       : response.status == 201 || response.status == 202;
        if (!accepted) {
            tally_.error("publish to " + channel_id(opts_, item.channel) + " answered " +
                         std::to_string(response.status));
        }
        done_(item.channel, item.seq, response);
        if (!queue_.empty() && !client_.in_flight())
            send_next();
    }
    void on_failure(Client&, std::string_view what) override {
        tally_.error("publisher: " + std::string(what));
        queue_.clear();
    }

  private:
    struct Item {
        int channel;
        uint64_t seq;
    };

    void send_next() {
        const Item& item = queue_.front();
        sent_ns_ = monotonic_ns();
        std::string body =
            encode_message({item.seq, static_cast<uint64_t>(item.channel), sent_ns_}, opts_.size);
        if (is_grip(opts_)) {
            send_grip(item.channel, body);
            return;
        }
        client_.send("POST /pub?id=" + channel_id(opts_, item.channel) +
                     " HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
    }

    // The stamp is plain ASCII: it needs no escaping in JSON.
    void send_grip(int channel, const std::string& stamp) {
        std::string format = opts_.transport == "grip-stream"
                                 ? R"("http-stream": {"content": ")" + stamp + R"(\n"})"
                                 : R"("http-response": {"body": ")" + stamp + R"("})";
        std::string json = R"({"items": [{"channel": ")" + channel_id(opts_, channel) +
                           R"(", "formats": {)" + format + "}}]}";
        client_.send(
            "POST /publish/ HTTP/1.1\r\nHost: bench\r\nContent-Type: "
            "application/json\r\nContent-Length: " +
            std::to_string(json.size()) + "\r\n\r\n" + json);
    }

    const Options& opts_;
    Tally& tally_;
    Latencies& latencies_;  // the request's round trip
    Done done_;
    Client client_;
    std::deque<Item> queue_;
    uint64_t sent_ns_ = 0;
};

// A keep-alive client GETting `/get` back to back, one request in flight, until the run's
// stop time: the plain proxied requests of a GRIP proxy. Every answer must be a 200 with a
// body (the origin's small response); its round trip is the latency recorded.
class Getter final : public Client::Handler {
  public:
    Getter(struct ev_loop* loop, const sockaddr_in& server, ConnectGate& gate, Tally& tally,
           Latencies& latencies, std::function<void()> done)
        : tally_(tally),
          latencies_(latencies),
          done_(std::move(done)),
          client_(loop, server, gate, *this) {}

    void start(uint64_t stop_ns) {
        stop_ns_ = stop_ns;
        send();
    }

    void on_response(Client&, Response& response) override {
        latencies_.add_ns(monotonic_ns() - sent_ns_);
        if (response.status != 200 || response.body.empty()) {
            tally_.error("GET /get answered " + std::to_string(response.status) + " with " +
                         std::to_string(response.body.size()) + " body bytes");
        } else {
            ++tally_.delivered;
        }
        if (monotonic_ns() < stop_ns_) {
            send();
        } else {
            done_();
        }
    }
    void on_failure(Client&, std::string_view what) override {
        tally_.error("GET client: " + std::string(what));
        done_();
    }

  private:
    void send() {
        sent_ns_ = monotonic_ns();
        client_.send("GET /get HTTP/1.1\r\nHost: bench\r\n\r\n");
    }

    Tally& tally_;
    Latencies& latencies_;
    std::function<void()> done_;
    Client client_;
    uint64_t stop_ns_ = 0;
    uint64_t sent_ns_ = 0;
};

// Owns the run's libev loop; declared first in Run so that it outlives every watcher.
class Loop {
  public:
    Loop() : loop_(ev_loop_new(EVBACKEND_EPOLL)) {}
    ~Loop() { ev_loop_destroy(loop_); }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    struct ev_loop* get() const {
        return loop_;
    }

  private:
    struct ev_loop* loop_;
};

// One scenario's state: the loop, the clients, the counters. Every
// scenario begins with a warm-up: seq 1 to every channel, delivered to every
// subscriber, then `settle` seconds for their next polls to be held. Only
// then does measuring start. (Neither server's channel info tells when all
// subscribers are held: Nchan's subscriber counts lag behind across workers.)
// GRIP keeps no history, so with a GRIP transport nothing is published until every
// subscriber is ready (Subscriber::on_ready) and `settle` seconds more have passed for the
// proxy to subscribe the last holds; GRIP held requests (idle) have no warm-up at all:
// each is answered once, by the measured release.
class Run {
  public:
    explicit Run(const Options& opts)
        : opts_(opts), loop_(owner_.get()), gate_(opts.connect_limit) {
        init_timer(deadline_, [](Run& run) { run.on_deadline(); });
        ev_timer_set(&deadline_.watcher, opts.timeout, 0);
        ev_timer_start(loop_, &deadline_.watcher);
        init_timer(watchdog_, [](Run& run) { run.on_watchdog(); });
        ev_timer_set(&watchdog_.watcher, kWatchdog, kWatchdog);
        ev_timer_start(loop_, &watchdog_.watcher);
        init_timer(tick_, [](Run& run) { run.churn_tick(); });
        init_timer(settle_, [](Run& run) { run.after_warm_up(); });
        init_timer(ready_settle_, [](Run& run) { run.after_ready(); });
        init_timer(open_, [](Run& run) { run.open_tick(); });
        ev_init(&stdin_, on_stdin);
        stdin_.data = this;
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    int fanout() {
        rounds_total_ = opts_.rounds + 1;
        start_with_subscribers(false, [this] {
            begin_measuring();
            start_rounds();
        });
        double seconds = elapsed(held_ns_, end_ns_);
        uint64_t publishes = static_cast<uint64_t>(opts_.channels) * opts_.rounds;
        return report({{"deliveries_per_s", measured_ / seconds},
                       {"publishes_per_s", publishes / seconds},
                       {"seconds", seconds},
                       {"setup_s", elapsed(start_ns_, held_ns_)}});
    }

    int publish() {
        add_publishers(opts_.connections);
        start_ns_ = monotonic_ns();
        stop_ns_ = start_ns_ + static_cast<uint64_t>(opts_.duration * 1e9);
        for (size_t p = 0; p < publishers_.size(); ++p) publish_next(static_cast<int>(p));
        ev_run(loop_, 0);
        double seconds = elapsed(start_ns_, end_ns_);
        return report({{"publishes_per_s", published_ / seconds}, {"seconds", seconds}});
    }

    int idle() {
        warm_up_ = !is_grip(opts_);
        rounds_total_ = (warm_up_ ? 1 : 0) + opts_.release_rounds;
        start_with_subscribers(false, [this] {
            begin_measuring();
            std::printf("{\"held\": %d, \"setup_s\": %.3f}\n", opts_.subs,
                        elapsed(start_ns_, held_ns_));
            std::fflush(stdout);
            ev_io_set(&stdin_, STDIN_FILENO, EV_READ);
            ev_io_start(loop_, &stdin_);
        });
        double seconds = elapsed(release_ns_, end_ns_);
        int status = report({{"setup_s", elapsed(start_ns_, held_ns_)},
                             {"deliveries_per_s", measured_ / seconds},
                             {"seconds", seconds}});
        // The subscribers stay connected, their next polls held, until stdin ends: the
        // orchestrator reads what the release cost (Redis's command counts) before they leave.
        char buffer[256];
        while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
        }
        return status;
    }

    int get() {
        for (int i = 0; i < opts_.connections; ++i) {
            getters_.push_back(std::make_unique<Getter>(loop_, node(opts_.sub, i), gate_, tally_,
                                                        latencies_, [this] { getter_done(); }));
        }
        start_ns_ = monotonic_ns();
        begin_measuring();
        uint64_t stop_ns = start_ns_ + static_cast<uint64_t>(opts_.duration * 1e9);
        for (auto& getter : getters_) getter->start(stop_ns);
        ev_run(loop_, 0);
        double seconds = elapsed(start_ns_, end_ns_);
        return report({{"requests_per_s", tally_.delivered / seconds}, {"seconds", seconds}});
    }

    int churn() {
        rounds_total_ = 1;
        last_seq_.assign(static_cast<size_t>(opts_.channels), 1);
        start_with_subscribers(true, [this] {
            begin_measuring();
            churning_ = true;
            stop_ns_ = held_ns_ + static_cast<uint64_t>(opts_.duration * 1e9);
            ev_timer_set(&tick_.watcher, kChurnTick, kChurnTick);
            ev_timer_start(loop_, &tick_.watcher);
        });
        uint64_t reconnects = 0;
        for (auto& s : subscribers_) reconnects += s->reconnects();
        double seconds = elapsed(held_ns_, end_ns_);
        return report({{"deliveries_per_s", measured_ / seconds},
                       {"reconnects_per_s", reconnects / seconds},
                       {"publishes_per_s", published_ / seconds},
                       {"seconds", seconds}});
    }

  private:
    // A timer whose callback is a Run member.
    struct Timer {
        ev_timer watcher{};
        Run* run = nullptr;
        void (*fire)(Run&) = nullptr;
    };

    void init_timer(Timer& timer, void (*fire)(Run&)) {
        timer.run = this;
        timer.fire = fire;
        ev_init(&timer.watcher, [](struct ev_loop*, ev_timer* w, int) {
            auto* t = static_cast<Timer*>(w->data);
            t->fire(*t->run);
        });
        timer.watcher.data = &timer;
    }

    // Client i's address among a multi-node server's: round-robin.
    static const sockaddr_in& node(const std::vector<sockaddr_in>& addresses, int i) {
        return addresses[static_cast<size_t>(i) % addresses.size()];
    }

    static double elapsed(uint64_t from_ns, uint64_t to_ns) {
        return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0.0;
    }

    // Connects the subscribers, runs the warm-up, calls `measure` once it
    // settled, and runs the loop until finish().
    void start_with_subscribers(bool churn, std::function<void()> measure) {
        add_publishers(std::min(opts_.publishers, opts_.channels));
        add_subscribers(churn);
        round_delivered_.assign(static_cast<size_t>(rounds_total_) + 2, 0);
        measure_ = std::move(measure);
        start_ns_ = monotonic_ns();
        // The publishers connect after every subscriber (the gate is FIFO):
        // most subscribers are held before the warm-up is published.
        if (!is_grip(opts_))
            publish_round();
        ev_run(loop_, 0);
    }

    void after_warm_up() { measure_(); }

    void subscriber_ready() {
        if (++ready_ < subscribers_.size())
            return;
        ev_timer_set(&ready_settle_.watcher, opts_.settle, 0);
        ev_timer_start(loop_, &ready_settle_.watcher);
    }

    void after_ready() {
        if (warm_up_) {
            publish_round();
        } else {
            measure_();
        }
    }

    void getter_done() {
        if (++getters_done_ == getters_.size())
            finish();
    }

    void add_publishers(int count) {
        for (int p = 0; p < count; ++p) {
            publishers_.push_back(std::make_unique<Publisher>(
                loop_, opts_, node(opts_.pub, p), gate_, tally_, publish_latencies_,
                [this, p](int, uint64_t, const Response&) { published(p); }));
        }
    }

    // Subscriber i listens on channel i % channels; multiplexed, on `mux` channels spread
    // evenly from there (i, i + channels/mux, ...), so that each channel has the same number.
    void add_subscribers(bool churn) {
        int step = opts_.channels / opts_.mux;
        for (int i = 0; i < opts_.subs; ++i) {
            std::vector<int> channels;
            for (int k = 0; k < opts_.mux; ++k) channels.push_back((i + k * step) % opts_.channels);
            subscribers_.push_back(make_subscriber(
                loop_, opts_, gate_, node(opts_.sub, i), std::move(channels), churn, tally_,
                [this](uint64_t seq, uint64_t latency_ns) { delivered(seq, latency_ns); }));
            if (is_grip(opts_))
                subscribers_.back()->on_ready([this] { subscriber_ready(); });
        }
        if (opts_.open_rate > 0) {
            ev_timer_set(&open_.watcher, 0, kOpenTick);
            ev_timer_start(loop_, &open_.watcher);
        } else {
            for (auto& s : subscribers_) s->start();
        }
    }

    // Starts the subscribers due by now at `open_rate` per second (a proxy that cannot take a
    // burst of new requests, Pushpin, gets them spread out; setup is not measured).
    void open_tick() {
        double due = opts_.open_rate * elapsed(start_ns_, monotonic_ns()) + 1;
        while (opened_ < subscribers_.size() && static_cast<double>(opened_) < due) {
            subscribers_[opened_++]->start();
        }
        if (opened_ == subscribers_.size())
            ev_timer_stop(loop_, &open_.watcher);
    }

    // A channel always goes through the same publisher, keeping its order.
    Publisher& publisher_of(int channel) {
        return *publishers_[static_cast<size_t>(channel) % publishers_.size()];
    }

    void publish_round() {
        ++rounds_started_;
        for (int c = 0; c < opts_.channels; ++c) {
            publisher_of(c).enqueue(c, static_cast<uint64_t>(rounds_started_));
        }
    }

    void start_rounds() {
        while (rounds_started_ < rounds_total_ && rounds_started_ - rounds_done_ < opts_.window) {
            publish_round();
        }
    }

    void published(int publisher) {
        ++published_;
        if (opts_.scenario == "publish")
            publish_next(publisher);
    }

    // The publish scenario: publisher p cycles over its own four channels.
    void publish_next(int p) {
        if (monotonic_ns() >= stop_ns_) {
            for (auto& pub : publishers_) {
                if (!pub->idle())
                    return;
            }
            finish();
            return;
        }
        uint64_t n = publish_counter_++;
        int channel = p * 4 + static_cast<int>(n % 4);
        publishers_[static_cast<size_t>(p)]->enqueue(channel, n + 1);
    }

    void delivered(uint64_t seq, uint64_t latency_ns) {
        last_delivery_ns_ = monotonic_ns();
        if (measuring_) {
            latencies_.add_ns(latency_ns);
            ++measured_;
        }
        if (churning_) {
            if (stopped_publishing_ && all_caught_up())
                finish();
            return;
        }
        if (seq >= round_delivered_.size())
            return;
        if (++round_delivered_[seq] != per_round())
            return;
        while (rounds_done_ < rounds_started_ &&
               round_delivered_[static_cast<size_t>(rounds_done_) + 1] == per_round()) {
            ++rounds_done_;
        }
        if (rounds_done_ == 1 && !measuring_) {
            ev_timer_set(&settle_.watcher, opts_.settle, 0);
            ev_timer_start(loop_, &settle_.watcher);
        } else if (rounds_done_ == rounds_total_) {
            finish();
        } else if (measuring_) {
            start_rounds();
        }
    }

    // Deliveries that complete a round: every subscriber gets one message per channel it has.
    uint64_t per_round() const { return static_cast<uint64_t>(opts_.subs) * opts_.mux; }

    bool all_caught_up() const {
        for (auto& s : subscribers_) {
            for (size_t i = 0; i < s->channels().size(); ++i) {
                if (s->next_seq(i) <= last_seq_[static_cast<size_t>(s->channels()[i])])
                    return false;
            }
        }
        return true;
    }

    void churn_tick() {
        uint64_t now = monotonic_ns();
        if (now >= stop_ns_) {
            ev_timer_stop(loop_, &tick_.watcher);
            stopped_publishing_ = true;
            if (all_caught_up())
                finish();
            return;
        }
        double due = opts_.rate * elapsed(held_ns_, now);
        while (static_cast<double>(churn_sent_) < due) {
            int c = static_cast<int>(churn_sent_ % static_cast<uint64_t>(opts_.channels));
            ++churn_sent_;
            publisher_of(c).enqueue(c, ++last_seq_[static_cast<size_t>(c)]);
        }
    }

    void begin_measuring() {
        held_ns_ = monotonic_ns();
        measuring_ = true;
        cpu_at_start_ = own_cpu_s();
    }

    void finish() {
        if (end_ns_ == 0) {
            end_ns_ = monotonic_ns();
            cpu_measured_ = own_cpu_s() - cpu_at_start_;
        }
        ev_break(loop_, EVBREAK_ALL);
    }

    // This process's CPU time (user + system), in seconds.
    static double own_cpu_s() {
        rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
        return seconds(usage.ru_utime) + seconds(usage.ru_stime);
    }

    // A failed subscriber or publisher never completes its part (a refused stream, a closed
    // connection), nor does a round whose message was lost: once anything failed the run (an
    // error, a loss, a duplicate, a stall), it ends now instead of at the deadline.
    void on_watchdog() {
        if (end_ns_ != 0)
            return;
        uint64_t since = std::max(last_delivery_ns_, start_ns_);
        bool stalled = !churning_ && rounds_done_ < rounds_started_ && since != 0 &&
                       monotonic_ns() - since > kStallNs;
        if (stalled) {
            tally_.error("stalled: no delivery for " + std::to_string(kStallNs / 1000000000) +
                         " s with a message outstanding");
        }
        if (tally_.passed())
            return;
        count_missing(stalled);
        finish();
    }

    void on_deadline() {
        tally_.error("timed out: the run did not complete in time");
        count_missing(true);
        finish();
    }

    static void on_stdin(struct ev_loop*, ev_io* w, int) {
        auto* self = static_cast<Run*>(w->data);
        char buffer[256];
        if (read(STDIN_FILENO, buffer, sizeof buffer) < 0)
            self->tally_.error("read(stdin) failed");
        ev_io_stop(self->loop_, w);
        self->release_ns_ = monotonic_ns();
        self->start_rounds();
    }

    // Names the first subscription that is short of the messages published, and how many are;
    // `lost` (a timeout, a stall): what never arrived also counts as lost. A run ended early
    // by an error or a gap leaves messages in flight, which are not lost.
    void count_missing(bool lost) {
        std::string first;
        uint64_t short_ones = 0;
        for (auto& s : subscribers_) {
            for (size_t i = 0; i < s->channels().size(); ++i) {
                uint64_t want = churning_ ? last_seq_[static_cast<size_t>(s->channels()[i])] + 1
                                          : static_cast<uint64_t>(rounds_started_) + 1;
                if (s->next_seq(i) >= want)
                    continue;
                if (lost)
                    tally_.lost += want - s->next_seq(i);
                if (short_ones++ == 0) {
                    first = channel_id(opts_, s->channels()[i]) + " waits for seq " +
                            std::to_string(s->next_seq(i)) + " of " + std::to_string(want - 1);
                }
            }
        }
        if (short_ones > 0) {
            tally_.note(std::to_string(short_ones) + " subscriptions short; first: " + first);
        }
    }

    int report(std::vector<std::pair<std::string, double>> figures) {
        std::string out = "{\"scenario\": " + json_string(opts_.scenario);
        char number[64];
        for (auto& [name, value] : figures) {
            std::snprintf(number, sizeof number, "%.6g", value);
            out += ", " + json_string(name) + ": " + number;
        }
        if (measuring_) {
            std::snprintf(number, sizeof number, "%.6g", cpu_measured_);
            out += std::string(", \"loadgen_measured_cpu_s\": ") + number;
        }
        out += ", \"latency_us\": " + latencies_.json();
        out += ", \"publish_latency_us\": " + publish_latencies_.json();
        out += ", " + tally_.json() + "}\n";
        std::fputs(out.c_str(), stdout);
        std::fflush(stdout);
        return tally_.passed() ? 0 : 1;
    }

    const Options& opts_;
    Loop owner_;
    struct ev_loop* loop_;
    ConnectGate gate_;
    Tally tally_;
    Latencies latencies_;  // publish to delivery, measured deliveries only (get: round trips)
    Latencies publish_latencies_;  // a publish request's round trip
    std::vector<std::unique_ptr<Publisher>> publishers_;
    std::vector<std::unique_ptr<Subscriber>> subscribers_;
    std::vector<std::unique_ptr<Getter>> getters_;
    size_t ready_ = 0, getters_done_ = 0;  // GRIP subscribers ready; getters past the stop time
    bool warm_up_ = true;                  // false: GRIP held requests, released once
    Timer deadline_, watchdog_, tick_, settle_, ready_settle_, open_;
    size_t opened_ = 0;  // subscribers started (open_rate)
    ev_io stdin_{};
    std::function<void()> measure_;

    uint64_t start_ns_ = 0, held_ns_ = 0, stop_ns_ = 0, end_ns_ = 0;
    uint64_t release_ns_ = 0;  // idle: the line on stdin that releases the subscribers
    int rounds_total_ = 0, rounds_started_ = 0, rounds_done_ = 0;
    std::vector<uint64_t> round_delivered_;  // by seq (= round number)
    uint64_t measured_ = 0, published_ = 0, publish_counter_ = 0, churn_sent_ = 0;
    std::vector<uint64_t> last_seq_;  // churn: the last seq published per channel
    bool measuring_ = false, churning_ = false, stopped_publishing_ = false;
    double cpu_at_start_ = 0, cpu_measured_ = 0;  // this process's CPU while measuring
    uint64_t last_delivery_ns_ = 0;
};

}  // namespace

int run_scenario(const Options& opts) {
    Run run(opts);
    if (opts.scenario == "fanout")
        return run.fanout();
    if (opts.scenario == "publish")
        return run.publish();
    if (opts.scenario == "idle")
        return run.idle();
    if (opts.scenario == "churn")
        return run.churn();
    if (opts.scenario == "get")
        return run.get();
    std::fprintf(stderr, "loadgen: unknown scenario %s\n", opts.scenario.c_str());
    return 2;
}

}  // namespace pushrelay::bench
