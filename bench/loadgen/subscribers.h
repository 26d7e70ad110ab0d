// The load generator's subscribers, one class per transport behind one
// interface: long-poll (one request per message, iterating with
// Last-Modified/Etag), EventSource and WebSocket (one stream each, framing by
// wslay, client frames masked). A subscriber follows one channel, or several
// on one stream (multiplexed); every message it receives is checked against
// the next sequence number of its channel (a gap is a loss, a repeat a
// duplicate) and handed on with its publish-to-delivery latency.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/loadgen/http_client.h"
#include "bench/loadgen/scenarios.h"
#include "bench/loadgen/stats.h"

namespace pushrelay::bench {

// The id of channel number `channel` in this run.
std::string channel_id(const Options& opts, int channel);

class Subscriber : public Client::Handler {
  public:
    // Called for each message, after its sequence was checked.
    using Delivered = std::function<void(uint64_t seq, uint64_t latency_ns)>;

    Subscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
               std::vector<int> channels, Tally& tally, Delivered delivered);
    virtual ~Subscriber() = default;
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    // Sends the first poll or opens the stream.
    virtual void start() = 0;

    const std::vector<int>& channels() const { return channels_; }
    // The sequence number expected next on channels()[i].
    uint64_t next_seq(size_t i) const { return expected_[i]; }
    uint64_t reconnects() const { return reconnects_; }

    void on_failure(Client&, std::string_view what) override;

  protected:
    // Checks one message body (stamp, channel, sequence) and hands it on; false when the
    // body carried no stamp of one of this subscriber's channels (an error is counted).
    bool receive(std::string_view body);
    // "GET /sub?id=<id>[,<id>...] HTTP/1.1\r\nHost: bench\r\n", without the blank line.
    std::string request_head() const;
    std::string name() const;

    const Options& opts_;
    Tally& tally_;
    Client client_;
    uint64_t reconnects_ = 0;

  private:
    std::vector<int> channels_;
    std::vector<uint64_t> expected_;
    Delivered delivered_;
};

// A subscriber for opts.transport on `channels` (long-poll: exactly one); `churn` (long-poll
// only) reconnects after every message.
std::unique_ptr<Subscriber> make_subscriber(struct ev_loop* loop, const Options& opts,
                                            ConnectGate& gate, std::vector<int> channels,
                                            bool churn, Tally& tally,
                                            Subscriber::Delivered delivered);

}  // namespace pushrelay::bench
