#include "bench/loadgen/subscribers.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace pushrelay::bench {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Bytes for WebSocket keys and masks: unpredictable enough for a benchmark
// (xorshift64*, seeded once from getrandom).
void random_bytes(uint8_t* out, size_t size) {
    static uint64_t state = [] {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != sizeof seed || seed == 0)
            seed = monotonic_ns() | 1;
        return seed;
    }();
    for (size_t i = 0; i < size; ++i) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out[i] = static_cast<uint8_t>((state * 0x2545F4914F6CDD1DULL) >> 56);
    }
}

std::string base64(const uint8_t* data, size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<size_t>(n));
    return out;
}

// A long-poll subscriber on one channel. Iterates with the Last-Modified/Etag
// of the message it last got, echoed back verbatim. With `churn`, it
// reconnects after every message.
class LongPollSubscriber final : public Subscriber {
  public:
    LongPollSubscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
                       const sockaddr_in& server, std::vector<int> channels, bool churn,
                       Tally& tally, Delivered delivered)
        : Subscriber(loop, opts, gate, server, std::move(channels), tally, std::move(delivered)),
          churn_(churn) {}

    void start() override {
        std::string request = request_head();
        if (!last_modified_.empty())
            request += "If-Modified-Since: " + last_modified_ + "\r\n";
        if (!etag_.empty())
            request += "If-None-Match: " + etag_ + "\r\n";
        client_.send(request + "\r\n");
    }

    void on_response(Client&, Response& response) override {
        if (response.status == 304 || response.status == 408) {  // a server-side poll timeout
            start();
            return;
        }
        if (response.status != 200) {
            tally_.error(name() + " got " + std::to_string(response.status));
            return;
        }
        last_modified_ = response.last_modified;
        etag_ = response.etag;
        if (churn_) {
            client_.disconnect();
            ++reconnects_;
        }
        // The next poll goes out before the delivery is counted (which may publish more).
        std::string body = std::move(response.body);
        start();
        receive(body);
    }

  private:
    bool churn_;
    std::string last_modified_, etag_;
};

// Common to the streams: a stream ends only with the run, so any response but
// the expected head, and any end, is an error.
class StreamSubscriber : public Subscriber {
  public:
    using Subscriber::Subscriber;

    void on_response(Client&, Response& response) override {
        tally_.error(name() + ": unexpected response " + std::to_string(response.status));
    }

  protected:
    // Checks the head's status and Content-Type prefix; counts an error and disconnects if not.
    bool expect_head(const Response& head, int status, std::string_view content_type) {
        if (head.status == status && head.content_type.starts_with(content_type))
            return true;
        tally_.error(name() + ": stream answered " + std::to_string(head.status) + " " +
                     head.content_type);
        client_.disconnect();
        return false;
    }
};

// An EventSource stream: `Accept: text/event-stream`; events end with a blank
// line; an event's `data:` lines, joined by "\n", are the message. Comments
// (": hi") and events without data (pings) are skipped.
class EventSourceSubscriber final : public StreamSubscriber {
  public:
    using StreamSubscriber::StreamSubscriber;

    void start() override {
        client_.open_stream(request_head() + "Accept: text/event-stream\r\n\r\n");
    }

    void on_stream_head(Client&, Response& head) override {
        expect_head(head, 200, "text/event-stream");
    }

    void on_stream_data(Client&, std::string_view bytes) override {
        buffer_.append(bytes);
        size_t pos = 0;
        for (;;) {
            size_t end = buffer_.find("\n\n", pos);
            if (end == std::string::npos)
                break;
            event(std::string_view(buffer_).substr(pos, end + 1 - pos));
            pos = end + 2;
        }
        buffer_.erase(0, pos);
    }

  private:
    // One event's lines, each ending with "\n".
    void event(std::string_view lines) {
        data_.clear();
        bool has_data = false;
        while (!lines.empty()) {
            size_t eol = lines.find('\n');
            std::string_view line = lines.substr(0, eol);
            lines.remove_prefix(eol + 1);
            if (!line.starts_with("data:"))
                continue;
            line.remove_prefix(5);
            if (line.starts_with(' '))
                line.remove_prefix(1);
            if (has_data)
                data_ += '\n';
            data_.append(line);
            has_data = true;
        }
        if (has_data)
            receive(data_);
    }

    std::string buffer_;
    std::string data_;
};

// A WebSocket stream (RFC 6455 version 13, no subprotocol: a frame's payload
// is the message). The handshake is checked here (101, Sec-WebSocket-Accept);
// frames are read and written by a wslay client context, which masks what it
// sends and answers PINGs.
class WebSocketSubscriber final : public StreamSubscriber {
  public:
    using StreamSubscriber::StreamSubscriber;

    ~WebSocketSubscriber() override {
        if (ctx_ != nullptr)
            wslay_event_context_free(ctx_);
    }

    void start() override {
        uint8_t nonce[16];
        random_bytes(nonce, sizeof nonce);
        std::string key = base64(nonce, sizeof nonce);
        std::string accepted = key;
        accepted.append(kWebSocketGuid);
        uint8_t digest[SHA_DIGEST_LENGTH];
        SHA1(reinterpret_cast<const unsigned char*>(accepted.data()), accepted.size(), digest);
        accept_ = base64(digest, sizeof digest);
        client_.open_stream(request_head() +
                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                            key + "\r\n\r\n");
    }

    void on_stream_head(Client&, Response& head) override {
        if (!expect_head(head, 101, ""))
            return;
        if (head.websocket_accept != accept_) {
            tally_.error(name() + ": wrong Sec-WebSocket-Accept " + head.websocket_accept);
            client_.disconnect();
            return;
        }
        static const wslay_event_callbacks callbacks = {on_recv, on_send, on_genmask, nullptr,
                                                        nullptr, nullptr, on_message};
        if (wslay_event_context_client_init(&ctx_, &callbacks, this) != 0) {
            tally_.error(name() + ": wslay_event_context_client_init failed");
            client_.disconnect();
        }
    }

    void on_stream_data(Client&, std::string_view bytes) override {
        if (ctx_ == nullptr)
            return;
        pending_ = bytes;
        int recv = wslay_event_recv(ctx_);
        int send = wslay_event_want_write(ctx_) ? wslay_event_send(ctx_) : 0;
        if (recv != 0 || send != 0) {
            tally_.error(name() + ": wslay error " + std::to_string(recv != 0 ? recv : send));
            client_.disconnect();
        }
    }

  private:
    static WebSocketSubscriber& self(void* user_data) {
        return *static_cast<WebSocketSubscriber*>(user_data);
    }

    static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* user) {
        std::string_view& pending = self(user).pending_;
        if (pending.empty()) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        size_t n = std::min(len, pending.size());
        std::memcpy(buf, pending.data(), n);
        pending.remove_prefix(n);
        return static_cast<ssize_t>(n);
    }

    static ssize_t on_send(wslay_event_context_ptr, const uint8_t* data, size_t len, int,
                           void* user) {
        self(user).client_.write(std::string_view(reinterpret_cast<const char*>(data), len));
        return static_cast<ssize_t>(len);
    }

    static int on_genmask(wslay_event_context_ptr, uint8_t* buf, size_t len, void*) {
        random_bytes(buf, len);
        return 0;
    }

    static void on_message(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg,
                           void* user) {
        WebSocketSubscriber& s = self(user);
        if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
            s.receive(std::string_view(reinterpret_cast<const char*>(arg->msg), arg->msg_length));
        } else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
            s.tally_.error(s.name() + ": the server closed the WebSocket (" +
                           std::to_string(arg->status_code) + ")");
        }
    }

    wslay_event_context_ptr ctx_ = nullptr;
    std::string accept_;
    std::string_view pending_;
};

// Sends a GRIP client's request again after the proxy failed it before it was held: a 5xx
// answer or the connection closed (Pushpin answers 502 while its queue toward zurl is full,
// under a burst of new requests, and 500 or a closed connection now and then in the same
// burst), after a pause that grows with each attempt, at most kMaxRetries times. The pause
// stays under bench/run.py's quiet window, so a retry pending is never mistaken for an idle
// server. A retry after the release was published would miss its item: the run then fails as
// stalled, so a retry can never hide a loss.
class Retry {
  public:
    static constexpr int kMaxRetries = 20;

    Retry(struct ev_loop* loop, Tally& tally, std::function<void()> resend)
        : loop_(loop), tally_(tally), resend_(std::move(resend)) {
        ev_init(&timer_, on_timer);
        timer_.data = this;
    }
    ~Retry() { ev_timer_stop(loop_, &timer_); }
    Retry(const Retry&) = delete;
    Retry& operator=(const Retry&) = delete;

    // Schedules the next attempt and counts it; false once the attempts are used up.
    bool again() {
        if (++attempts_ > kMaxRetries)
            return false;
        ++tally_.retried;
        ev_timer_set(&timer_, std::min(0.05 * attempts_, 0.2), 0);
        ev_timer_start(loop_, &timer_);
        return true;
    }

  private:
    static void on_timer(struct ev_loop*, ev_timer* w, int) {
        static_cast<Retry*>(w->data)->resend_();
    }

    struct ev_loop* loop_;
    Tally& tally_;
    std::function<void()> resend_;
    ev_timer timer_{};
    int attempts_ = 0;
};

// A request held by a GRIP proxy (the origin answers `Grip-Hold: response`): answered once,
// by the published `http-response` item; it does not poll again. The hold's timeout response
// (the origin's own body) carries no stamp and is an error.
class GripResponseSubscriber final : public Subscriber {
  public:
    GripResponseSubscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
                           const sockaddr_in& server, std::vector<int> channels, Tally& tally,
                           Delivered delivered)
        : Subscriber(loop, opts, gate, server, std::move(channels), tally, std::move(delivered)),
          retry_(loop, tally, [this] { start(); }) {}

    void start() override { client_.send(request_head() + "\r\n"); }

    void on_request_sent(Client&) override { ready(); }

    void on_failure(Client& client, std::string_view what) override {
        if (!retry_.again())
            Subscriber::on_failure(client, what);
    }

    void on_response(Client&, Response& response) override {
        if (response.status >= 500 && retry_.again())
            return;
        if (response.status != 200) {
            tally_.error(name() + " got " + std::to_string(response.status));
            return;
        }
        receive(response.body);
    }

  private:
    Retry retry_;
};

// A GRIP stream hold (the origin answers `Grip-Hold: stream`): one chunked response that
// never ends; each published `http-stream` item is one line. The chunked framing is decoded
// here; the end of the stream is an error.
class GripStreamSubscriber final : public StreamSubscriber {
  public:
    GripStreamSubscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
                         const sockaddr_in& server, std::vector<int> channels, Tally& tally,
                         Delivered delivered)
        : StreamSubscriber(loop, opts, gate, server, std::move(channels), tally,
                           std::move(delivered)),
          retry_(loop, tally, [this] { start(); }) {}

    void start() override { client_.open_stream(request_head() + "\r\n"); }

    void on_stream_head(Client&, Response& head) override {
        if (head.status >= 500) {
            client_.disconnect();
            if (retry_.again())
                return;
        }
        if (!expect_head(head, 200, ""))
            return;
        if (!head.chunked) {
            tally_.error(name() + ": the stream is not chunked");
            client_.disconnect();
            return;
        }
        held_ = true;
        ready();
    }

    // Before its head, a stream is not held yet: it may be retried.
    void on_failure(Client& client, std::string_view what) override {
        if (held_ || !retry_.again())
            Subscriber::on_failure(client, what);
    }

    void on_stream_data(Client&, std::string_view bytes) override {
        raw_.append(bytes);
        if (!dechunk())
            return;
        size_t pos = 0;
        for (size_t eol; (eol = lines_.find('\n', pos)) != std::string::npos; pos = eol + 1) {
            receive(std::string_view(lines_).substr(pos, eol - pos));
        }
        lines_.erase(0, pos);
    }

  private:
    // Moves the chunk data out of raw_ into lines_; false (an error counted) when the framing
    // is broken or the stream ended.
    bool dechunk() {
        size_t pos = 0;
        for (;;) {
            if (chunk_left_ > 0) {
                size_t n = std::min(chunk_left_, raw_.size() - pos);
                lines_.append(raw_, pos, n);
                pos += n;
                chunk_left_ -= n;
                if (chunk_left_ > 0)
                    break;
                chunk_crlf_ = true;
            }
            if (chunk_crlf_) {
                if (raw_.size() - pos < 2)
                    break;
                if (raw_.compare(pos, 2, "\r\n") != 0)
                    return broken("no CRLF after a chunk");
                pos += 2;
                chunk_crlf_ = false;
            }
            size_t eol = raw_.find("\r\n", pos);
            if (eol == std::string::npos)
                break;
            char* end = nullptr;
            unsigned long size = std::strtoul(raw_.c_str() + pos, &end, 16);
            if (end == raw_.c_str() + pos)
                return broken("a malformed chunk size");
            if (size == 0)
                return broken("the stream ended");
            chunk_left_ = size;
            pos = eol + 2;
        }
        raw_.erase(0, pos);
        return true;
    }

    bool broken(const std::string& what) {
        tally_.error(name() + ": " + what);
        client_.disconnect();
        return false;
    }

    Retry retry_;
    bool held_ = false;  // the stream's head has arrived
    std::string raw_;    // received bytes not yet decoded
    std::string lines_;  // decoded bytes not yet split into lines
    size_t chunk_left_ = 0;
    bool chunk_crlf_ = false;  // a chunk's data is complete, its CRLF is next
};

}  // namespace

std::string channel_id(const Options& opts, int channel) {
    return opts.prefix + "-" + std::to_string(channel);
}

bool is_grip(const Options& opts) {
    return opts.transport.starts_with("grip-");
}

Subscriber::Subscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
                       const sockaddr_in& server, std::vector<int> channels, Tally& tally,
                       Delivered delivered)
    : opts_(opts),
      tally_(tally),
      client_(loop, server, gate, *this),
      channels_(std::move(channels)),
      expected_(channels_.size(), 1),
      delivered_(std::move(delivered)) {}

void Subscriber::on_failure(Client&, std::string_view what) {
    tally_.error(name() + ": " + std::string(what));
}

bool Subscriber::receive(std::string_view body) {
    auto stamp = decode_message(body);
    if (!stamp) {
        tally_.error(name() + " got a body without a stamp: " + std::string(body.substr(0, 40)));
        return false;
    }
    uint64_t latency_ns = monotonic_ns() - stamp->sent_ns;
    auto at = std::find(channels_.begin(), channels_.end(), static_cast<int>(stamp->channel));
    if (at == channels_.end()) {
        tally_.error(name() + " got a message of channel " + std::to_string(stamp->channel));
        return false;
    }
    uint64_t& expected = expected_[static_cast<size_t>(at - channels_.begin())];
    if (stamp->seq != expected) {
        tally_.note(name() + ": got seq " + std::to_string(stamp->seq) + " of " +
                    channel_id(opts_, static_cast<int>(stamp->channel)) + ", expected " +
                    std::to_string(expected));
    }
    if (stamp->seq < expected) {
        ++tally_.duplicated;
        return true;
    }
    tally_.lost += stamp->seq - expected;
    ++tally_.delivered;
    expected = stamp->seq + 1;
    delivered_(stamp->seq, latency_ns);
    return true;
}

void Subscriber::ready() {
    if (ready_)
        std::exchange(ready_, nullptr)();
}

std::string Subscriber::request_head() const {
    std::string target = opts_.transport == "grip-response" ? "GET /hold?c="
                         : opts_.transport == "grip-stream" ? "GET /stream?c="
                                                            : "GET /sub?id=";
    for (size_t i = 0; i < channels_.size(); ++i) {
        if (i > 0)
            target += ',';
        target += channel_id(opts_, channels_[i]);
    }
    return target + " HTTP/1.1\r\nHost: bench\r\n";
}

std::string Subscriber::name() const {
    return opts_.transport + " subscriber on " + channel_id(opts_, channels_.front()) +
           (channels_.size() > 1 ? " (+" + std::to_string(channels_.size() - 1) + ")" : "");
}

std::unique_ptr<Subscriber> make_subscriber(struct ev_loop* loop, const Options& opts,
                                            ConnectGate& gate, const sockaddr_in& server,
                                            std::vector<int> channels, bool churn, Tally& tally,
                                            Subscriber::Delivered delivered) {
    if (opts.transport == "eventsource")
        return std::make_unique<EventSourceSubscriber>(
            loop, opts, gate, server, std::move(channels), tally, std::move(delivered));
    if (opts.transport == "websocket")
        return std::make_unique<WebSocketSubscriber>(loop, opts, gate, server, std::move(channels),
                                                     tally, std::move(delivered));
    if (opts.transport == "grip-response")
        return std::make_unique<GripResponseSubscriber>(
            loop, opts, gate, server, std::move(channels), tally, std::move(delivered));
    if (opts.transport == "grip-stream")
        return std::make_unique<GripStreamSubscriber>(loop, opts, gate, server, std::move(channels),
                                                      tally, std::move(delivered));
    return std::make_unique<LongPollSubscriber>(loop, opts, gate, server, std::move(channels),
                                                churn, tally, std::move(delivered));
}

}  // namespace pushrelay::bench
