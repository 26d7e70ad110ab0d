#include "bench/loadgen/subscribers.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#include <algorithm>
#include <cstring>

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
                       std::vector<int> channels, bool churn, Tally& tally, Delivered delivered)
        : Subscriber(loop, opts, gate, std::move(channels), tally, std::move(delivered)),
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

}  // namespace

std::string channel_id(const Options& opts, int channel) {
    return opts.prefix + "-" + std::to_string(channel);
}

Subscriber::Subscriber(struct ev_loop* loop, const Options& opts, ConnectGate& gate,
                       std::vector<int> channels, Tally& tally, Delivered delivered)
    : opts_(opts),
      tally_(tally),
      client_(loop, opts.sub, gate, *this),
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

std::string Subscriber::request_head() const {
    std::string target = "GET /sub?id=";
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
                                            ConnectGate& gate, std::vector<int> channels,
                                            bool churn, Tally& tally,
                                            Subscriber::Delivered delivered) {
    if (opts.transport == "eventsource")
        return std::make_unique<EventSourceSubscriber>(loop, opts, gate, std::move(channels), tally,
                                                       std::move(delivered));
    if (opts.transport == "websocket")
        return std::make_unique<WebSocketSubscriber>(loop, opts, gate, std::move(channels), tally,
                                                     std::move(delivered));
    return std::make_unique<LongPollSubscriber>(loop, opts, gate, std::move(channels), churn, tally,
                                                std::move(delivered));
}

}  // namespace pushrelay::bench
