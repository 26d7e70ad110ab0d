// What the load generator measures and checks: the message body that carries
// a sequence number and a CLOCK_MONOTONIC send timestamp, latency
// percentiles, and the tally of deliveries, losses, duplicates and errors
// that decides whether a run passed. Client side only; no sockets here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pushrelay::bench {

struct Stamp {
    uint64_t seq;
    uint64_t channel;  // the channel's number in the run (a multiplexed stream has several)
    uint64_t sent_ns;
};

// A body of exactly `size` bytes (at least 48) carrying the stamp.
std::string encode_message(const Stamp& stamp, size_t size);
// The stamp of a body made by encode_message; nullopt for anything else.
std::optional<Stamp> decode_message(std::string_view body);

// Latency samples in microseconds.
class Latencies {
  public:
    void add_ns(uint64_t ns) { samples_.push_back(static_cast<uint32_t>(ns / 1000)); }
    size_t count() const { return samples_.size(); }
    // {"p50": .., "p90": .., "p99": .., "p999": .., "max": ..} in microseconds.
    std::string json();

  private:
    std::vector<uint32_t> samples_;
};

// Correctness counters of one run; any loss, duplicate or error fails it.
struct Tally {
    uint64_t delivered = 0;
    uint64_t lost = 0;
    uint64_t duplicated = 0;
    uint64_t errors = 0;
    // Requests a GRIP proxy answered 502 and that were sent again (not a failure: Pushpin
    // answers so under bursts of new requests; the report shows how often).
    uint64_t retried = 0;
    std::vector<std::string> first_errors;  // the first few, for the report

    void error(std::string what);
    // Keeps the text of a loss or duplicate (already counted) among the first errors.
    void note(std::string what);
    bool passed() const { return lost == 0 && duplicated == 0 && errors == 0; }
    std::string json() const;
};

// `text` as a JSON string literal.
std::string json_string(std::string_view text);

}  // namespace pushrelay::bench
