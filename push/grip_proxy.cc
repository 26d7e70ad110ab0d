#include "push/grip_proxy.h"

#include <algorithm>
#include <ctime>

#include "core/log.h"
#include "core/peer_address.h"
#include "grip/headers.h"
#include "protocol/response.h"
#include "push/grip_hold.h"
#include "push/responses.h"

namespace pushrelay::push {

// While more than this is queued for the client, the origin is not read: a slow client slows
// the origin instead of growing our memory (at most this plus one read_buffer per request).
constexpr std::size_t kHighWater = 256 * 1024;

namespace {

bool names(const protocol::Header& h, std::string_view name) {
    return std::equal(h.name.begin(), h.name.end(), name.begin(), name.end(),
                      [](char a, char b) { return std::tolower(a) == std::tolower(b); });
}

bool has_header(const std::vector<protocol::Header>& headers, std::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const protocol::Header& h) { return names(h, name); });
}

// The client request as the origin receives it (grip.md "Proxying"), built afresh from the
// exchange's parsed request for every attempt: the exchange keeps that request for as long as it
// is held, so a hold needs no copy of its own.
upstream::Request origin_request(const http::Exchange& exchange, bool trusted) {
    const protocol::Request& req = exchange.request();
    const conf::GripSettings& grip = exchange.location().push.grip;
    upstream::Request out;
    out.method = req.method;
    out.target = req.target;
    out.body = req.body;
    out.headers = grip::origin_request_headers(req.headers, trusted);
    if (!has_header(out.headers, "Host"))  // an HTTP/1.0 client may send none
        out.headers.push_back({"Host", origin_authority(grip)});
    grip::set_forwarded_for(out.headers, static_cast<grip::ForwardedFor>(grip.x_forwarded_for),
                            core::peer_address(exchange.peer()));
    return out;
}

// A plain origin response's headers for the client: hop-by-hop ones go (grip/headers.h), and so
// do Date and Server (drop_head_writer_headers).
std::vector<protocol::Header> plain_headers(const std::vector<protocol::Header>& origin,
                                            bool keep_length) {
    std::vector<protocol::Header> out = grip::without_hop_by_hop(origin);
    drop_head_writer_headers(out);
    if (!keep_length)
        std::erase_if(out, [](const protocol::Header& h) { return names(h, "Content-Length"); });
    return out;
}

}  // namespace

std::string origin_authority(const conf::GripSettings& grip) {
    const bool ipv6 = grip.origin_host.find(':') != std::string::npos;
    return (ipv6 ? "[" + grip.origin_host + "]" : grip.origin_host) + ":" +
           std::to_string(grip.origin_port);
}

// One request toward the origin on behalf of one exchange: streams a plain answer through, reads
// a GRIP answer whole and hands it to GripProxy::on_grip_response(). Owned by GripProxy until it
// retires itself.
class OriginCall final : public upstream::Observer, public http::ExchangeObserver {
  public:
    OriginCall(GripProxy& proxy, http::Exchange& exchange, bool trusted)
        : proxy_(proxy), exchange_(exchange), trusted_(trusted) {}

    void start(upstream::Pool& pool, upstream::Request request) {
        exchange_.set_observer(this);
        call_ = pool.start(std::move(request), *this);
    }

  private:
    enum class Mode { Head, Plain, Grip, Done };

    void on_head(const upstream::ResponseHead& head) override {
        head_ = head;
        if (!trusted_ && grip::is_grip_response(head.headers)) {
            mode_ = Mode::Grip;
            return;
        }
        mode_ = Mode::Plain;
        // A known length goes through as it is; otherwise chunked (HTTP/1.0: close-delimited).
        const bool fixed =
            head.bodiless || (!head.chunked && has_header(head.headers, "Content-Length"));
        protocol::ResponseHead out(head.status, head.reason, exchange_.http_minor() == 0 ? 0 : 1);
        for (const protocol::Header& h : plain_headers(head.headers, fixed))
            out.add(h.name, h.value);
        exchange_.begin_stream(out, fixed ? http::Framing::Fixed : http::Framing::Chunked,
                               SIZE_MAX);  // the origin pauses instead (kHighWater)
    }

    void on_body(std::string_view bytes) override {
        if (mode_ == Mode::Plain) {
            exchange_.send(std::make_shared<const std::string>(bytes));
            if (exchange_.unsent() > kHighWater)
                call_->pause();
            return;
        }
        if (body_.size() + bytes.size() > exchange_.location().push.grip.max_instruct_size)
            return fail("GRIP response body over push_grip_max_instruct_size");
        body_.append(bytes);
    }

    void on_end() override {
        const Mode mode = std::exchange(mode_, Mode::Done);
        call_.reset();
        exchange_.set_observer(nullptr);
        if (mode == Mode::Plain)
            exchange_.end_stream();
        else
            proxy_.on_grip_response(exchange_, head_, body_);
        proxy_.retire(this);
    }

    void on_error(std::string_view reason) override { fail(reason); }

    void fail(std::string_view reason) {
        const Mode mode = std::exchange(mode_, Mode::Done);
        call_.reset();
        exchange_.set_observer(nullptr);
        const conf::GripSettings& grip = exchange_.location().push.grip;
        LOG_INFO("GRIP origin %s:%u: %.*s", grip.origin_host.c_str(), grip.origin_port,
                 static_cast<int>(reason.size()), reason.data());
        if (mode == Mode::Plain) {
            // The client's response has begun: a cut body, never a terminating chunk.
            proxy_.count_origin_error();
            exchange_.abort();
        } else {
            proxy_.bad_gateway(exchange_, reason);
        }
        proxy_.retire(this);
    }

    void exchange_aborted() override {
        mode_ = Mode::Done;
        call_.reset();
        proxy_.retire(this);
    }
    void exchange_drained() override {
        if (call_ && mode_ == Mode::Plain)
            call_->resume();
    }

    GripProxy& proxy_;
    http::Exchange& exchange_;
    const bool trusted_;
    std::unique_ptr<upstream::Call> call_;
    Mode mode_ = Mode::Head;
    upstream::ResponseHead head_;
    std::string body_;
};

GripProxy::GripProxy(broker::Broker& broker, Subscriptions& subscriptions, struct ev_loop* loop)
    : broker_(broker), subscriptions_(subscriptions), loop_(loop) {
    ev_timer_init(&soon_timer_, on_soon, 0., 0.);
    soon_timer_.data = this;
}

GripProxy::~GripProxy() {
    ev_timer_stop(loop_, &soon_timer_);
    calls_.clear();
}

void GripProxy::handle(http::Exchange& exchange) {
    const protocol::Request& req = exchange.request();
    const conf::GripSettings& grip = exchange.location().push.grip;
    const std::string* upgrade = req.header("Upgrade");
    if (upgrade && names({*upgrade, ""}, "websocket")) {
        // grip.md "Proxying": WebSocket over GRIP is later.
        respond_text(exchange, 501, "WebSocket is not supported by this GRIP proxy yet.\n");
        return;
    }
    bool trusted = false;
    if (!grip.upstream_key.empty()) {
        const std::string* sig = req.header("Grip-Sig");
        std::optional<std::string> key = grip::parse_key(grip.upstream_key);
        trusted = sig && key && grip::validate_sig(*sig, *key, std::time(nullptr));
    }
    start(exchange, trusted, {});
}

// A held request was never trusted: a trusted one's answer is not read as GRIP.
void GripProxy::rerequest(http::Exchange& exchange,
                          const std::vector<grip::HoldChannel>& channels) {
    start(exchange, false, channels);
}

void GripProxy::start(http::Exchange& exchange, bool trusted,
                      const std::vector<grip::HoldChannel>& channels) {
    const conf::GripSettings& grip = exchange.location().push.grip;
    upstream::Request out = origin_request(exchange, trusted);
    if (!trusted)
        add_grip_headers(out.headers, grip, channels);
    upstream::Pool& pool = pool_for(grip);
    auto call = std::make_unique<OriginCall>(*this, exchange, trusted);
    OriginCall* raw = call.get();
    calls_.emplace(raw, std::move(call));
    raw->start(pool, std::move(out));
}

void GripProxy::on_grip_response(http::Exchange& exchange, const upstream::ResponseHead& head,
                                 const std::string& body) {
    const conf::Location& location = exchange.location();
    grip::Limits limits{location.push.grip.max_channels, location.push.max_channel_id_length};
    auto parsed = grip::parse_instruction(head.status, head.headers, body, limits);
    if (auto* error = std::get_if<grip::InstructionError>(&parsed))
        return bad_gateway(exchange, *error);
    grip::Instruction& instruction = std::get<grip::Instruction>(parsed);
    if (instruction.channels_ignored > 0)
        LOG_INFO("GRIP hold: %zu channels over push_grip_max_channels ignored",
                 instruction.channels_ignored);
    HoldResponse response = hold_response_of(instruction, head, body);
    if (instruction.mode == grip::HoldMode::None)
        return respond_with(exchange, response);
    Hold::start(*this, exchange, std::move(instruction), std::move(response));
}

void GripProxy::add_grip_headers(std::vector<protocol::Header>& headers,
                                 const conf::GripSettings& grip,
                                 const std::vector<grip::HoldChannel>& channels) {
    headers.push_back({"Grip-Sig", sig_for(grip).token(std::time(nullptr))});
    headers.push_back({"Grip-Feature", std::string(grip::kGripFeature)});
    for (protocol::Header& h : grip::grip_last_headers(channels)) headers.push_back(std::move(h));
}

std::unique_ptr<LinkFetch> GripProxy::fetch_link(const http::Exchange& exchange, std::string target,
                                                 const std::vector<grip::HoldChannel>& channels,
                                                 LinkFetch::Done done) {
    const conf::GripSettings& grip = exchange.location().push.grip;
    upstream::Request out;
    out.method = "GET";
    out.target = std::move(target);
    // The Host the original request went with (the client's, unless its Connection header
    // listed it).
    const std::vector<protocol::Header> forwarded =
        grip::origin_request_headers(exchange.request().headers, false);
    const std::string* host = protocol::find_header(forwarded, "Host");
    out.headers.push_back({"Host", host ? *host : origin_authority(grip)});
    add_grip_headers(out.headers, grip, channels);
    return std::make_unique<LinkFetch>(pool_for(grip), std::move(out), grip.max_instruct_size,
                                       std::move(done));
}

void GripProxy::refresh_holds() {
    // A refresh may end holds (a re-request answers its hold): walk a snapshot, and skip a hold
    // that is gone by its turn.
    std::vector<std::weak_ptr<Hold>> holds;
    holds.reserve(holds_.size());
    for (Hold* hold : holds_) holds.push_back(hold->weak_from_this());
    for (const std::weak_ptr<Hold>& weak : holds) {
        if (std::shared_ptr<Hold> hold = weak.lock())
            hold->refresh();
    }
}

void GripProxy::count_origin_error() {
    figures_.origin_errors++;
    broker_.count_grip_origin_error();
}

void GripProxy::count_rerequest() {
    figures_.rerequests++;
    broker_.count_grip_rerequest();
}

void GripProxy::bad_gateway(http::Exchange& exchange, std::string_view reason) {
    count_origin_error();
    exchange.respond(502, {{"Content-Type", "text/plain"}},
                     grip::bad_gateway_body(reason, exchange.location().push.grip.debug));
}

void GripProxy::soon(std::function<void()> work) {
    soon_.push_back(std::move(work));
    if (!ev_is_active(&soon_timer_))
        ev_timer_start(loop_, &soon_timer_);
}

void GripProxy::retire(OriginCall* call) {
    auto it = calls_.find(call);
    if (it == calls_.end())
        return;
    std::shared_ptr<OriginCall> dying(it->second.release());
    calls_.erase(it);
    soon([dying] {});
}

void GripProxy::on_soon(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<GripProxy*>(w->data);
    // Work may add work: it runs on the next turn.
    for (std::function<void()>& work : std::exchange(self->soon_, {})) work();
}

upstream::Pool& GripProxy::pool_for(const conf::GripSettings& grip) {
    const std::string key = grip.origin_host + " " + std::to_string(grip.origin_port) + " " +
                            std::to_string(grip.connect_timeout.count()) + " " +
                            std::to_string(grip.read_timeout.count()) + " " +
                            std::to_string(grip.keepalive) + " " +
                            std::to_string(grip.keepalive_timeout.count());
    std::unique_ptr<upstream::Pool>& pool = pools_[key];
    if (!pool) {
        // Resolved at conf load already (a name that did not resolve is a conf error); an IP
        // literal or a name in the resolver's cache: getaddrinfo() does not wait here.
        upstream::Resolved resolved = upstream::resolve_origin(grip.origin_host, grip.origin_port);
        upstream::Settings settings;
        settings.connect_timeout = grip.connect_timeout.count() / 1000.0;
        settings.read_timeout = grip.read_timeout.count() / 1000.0;
        settings.keepalive = grip.keepalive;
        settings.keepalive_timeout = grip.keepalive_timeout.count() / 1000.0;
        pool = std::make_unique<upstream::Pool>(loop_, resolved.origin.value_or(upstream::Origin{}),
                                                settings);
    }
    return *pool;
}

grip::SigCache& GripProxy::sig_for(const conf::GripSettings& grip) {
    std::unique_ptr<grip::SigCache>& cache = sigs_[grip.sig_iss + '\n' + grip.sig_key];
    if (!cache)
        cache = std::make_unique<grip::SigCache>(
            grip.sig_iss, grip::parse_key(grip.sig_key).value_or(grip.sig_key));
    return *cache;
}

}  // namespace pushrelay::push
