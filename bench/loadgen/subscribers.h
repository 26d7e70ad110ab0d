// The load generator's subscribers, one class per transport behind one
// interface: long-poll (one request per message, iterating with
// Last-Modified/Etag), EventSource and WebSocket (one stream each, framing by
// wslay, client frames masked), and the GRIP clients of a proxy: a held request
// (`/hold?c=`, answered once by a published `http-response`) and a stream hold
// (`/stream?c=`, chunked, one published `http-stream` item per line). A subscriber
// follows one channel, or several on one stream (multiplexed); every message it
// receives is checked against the next sequence number of its channel (a gap is a
// loss, a repeat a duplicate) and handed on with its publish-to-delivery latency.
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

// A GRIP transport: the subscribers are clients of a GRIP proxy, and there is no history (an
// item published before a hold subscribed never reaches it).
bool is_grip(const Options& opts);

class Subscriber : public Client::Handler {
  public:
    // Called for each message, after its sequence was checked.
    using Delivered = std::function<void(uint64_t seq, uint64_t latency_ns)>;

    // `server`: the subscriber address this one connects to (one of opts.sub).
    Subscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
               const sockaddr_in& server, std::vector<int> channels, Tally& tally,
               Delivered delivered);
    virtual ~Subscriber() = default;
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    // Sends the first poll or opens the stream.
    virtual void start() = 0;
    // `ready` is called once this subscriber can receive what is published next, as far as
    // a client can tell: a GRIP hold's request is written, a stream's head has arrived.
    // Only GRIP subscribers call it (the others begin with a warm-up message).
    void on_ready(std::function<void()> ready) { ready_ = std::move(ready); }

    const std::vector<int>& channels() const { return channels_; }
    // The sequence number expected next on channels()[i].
    uint64_t next_seq(size_t i) const { return expected_[i]; }
    uint64_t reconnects() const { return reconnects_; }

    void on_failure(Client&, std::string_view what) override;

  protected:
    // Checks one message body (stamp, channel, sequence) and hands it on; false when the
    // body carried no stamp of one of this subscriber's channels (an error is counted).
    bool receive(std::string_view body);
    // "GET /sub?id=<id>[,<id>...] HTTP/1.1\r\nHost: bench\r\n" (GRIP: /hold?c=<id> or
    // /stream?c=<id>), without the blank line.
    std::string request_head() const;
    std::string name() const;
    void ready();

    const Options& opts_;
    Tally& tally_;
    Client client_;
    uint64_t reconnects_ = 0;

  private:
    std::vector<int> channels_;
    std::vector<uint64_t> expected_;
    Delivered delivered_;
    std::function<void()> ready_;
};

// A subscriber for opts.transport on `channels` (long-poll: exactly one) at `server`; `churn`
// (long-poll only) reconnects after every message.
std::unique_ptr<Subscriber> make_subscriber(struct ev_loop* loop, const Options& opts,
                                            ConnectGate& gate, const sockaddr_in& server,
                                            std::vector<int> channels, bool churn, Tally& tally,
                                            Subscriber::Delivered delivered);

}  // namespace pushrelay::bench
