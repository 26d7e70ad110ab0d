#include "http/connection.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "core/peer_address.h"
#include "http/access_log.h"
#include "protocol/response.h"

namespace pushrelay::http {
namespace {

constexpr size_t kReadChunk = 65536;
constexpr size_t kKeptInputCapacity = 4096;
// Pipelined requests are not parsed while this much output waits for a slow reader: the client
// must read before it may ask for more.
constexpr size_t kMaxPendingOutput = 4 << 20;
// Bytes a client whose exchange is open (held, streaming) may send before we stop reading it.
constexpr size_t kMaxBufferedInput = 64 << 10;
constexpr conf::Millis kSendTimeout{60000};
constexpr conf::Millis kLingeringTimeout{2000};
// Logged for an exchange whose client left before any answer, as nginx does.
constexpr int kClientClosedRequest = 499;

const SharedBytes& crlf() {
    static const SharedBytes bytes = std::make_shared<const std::string>("\r\n");
    return bytes;
}

SharedBytes chunk_size_line(size_t size) {
    char line[24];
    int n = snprintf(line, sizeof line, "%zx\r\n", size);
    return std::make_shared<const std::string>(line, static_cast<size_t>(n));
}

}  // namespace

// ---- Exchange: the handler's view of the connection's current request ----

const protocol::Request& Exchange::request() const {
    return connection_.parser_.request();
}
const conf::Location& Exchange::location() const {
    return *connection_.location_;
}
const std::vector<std::string>& Exchange::captures() const {
    return connection_.captures_;
}
const sockaddr* Exchange::peer() const {
    return reinterpret_cast<const sockaddr*>(&connection_.peer_);
}
int Exchange::http_minor() const {
    return connection_.http_minor_;
}
struct ev_loop* Exchange::loop() const {
    return connection_.owner_.loop();
}
bool Exchange::keeps_alive() const {
    return connection_.keeps_alive();
}
void Exchange::set_observer(ExchangeObserver* observer) {
    connection_.observer_ = observer;
}
void Exchange::on_end(std::function<void()> done) {
    connection_.on_end_ = std::move(done);
}

void Exchange::respond(int status, const std::vector<protocol::Header>& headers, std::string body) {
    protocol::ResponseHead head(status, http_minor() == 0 ? 0 : 1);
    for (const protocol::Header& h : headers) head.add(h.name, h.value);
    auto head_bytes = std::make_shared<const std::string>(head.finish(body.size(), keeps_alive()));
    respond(status, std::move(head_bytes), std::make_shared<const std::string>(std::move(body)));
}

void Exchange::respond(int status, SharedBytes head, SharedBytes body) {
    Connection& c = connection_;
    if (!c.keeps_alive())
        c.close_after_write_ = true;
    c.status_ = status;
    c.body_ = Connection::Body::Whole;
    // A response to HEAD has the headers of the GET response and no body.
    if (body->empty() || c.head_request_)
        body.reset();
    else
        c.body_bytes_ += body->size();
    c.write_or_queue(std::move(head), std::move(body));
    c.log_exchange(status);
    c.end_exchange();
    c.flush();
}

void Exchange::begin_stream(int status, const std::vector<protocol::Header>& headers,
                            Framing framing, size_t max_unsent) {
    protocol::ResponseHead head(status, http_minor() == 0 ? 0 : 1);
    for (const protocol::Header& h : headers) head.add(h.name, h.value);
    begin_stream(head, framing, max_unsent);
}

void Exchange::begin_stream(const protocol::ResponseHead& head, Framing framing,
                            size_t max_unsent) {
    Connection& c = connection_;
    c.max_unsent_ = max_unsent;
    // Without chunked framing the end of the body is the end of the connection (an HTTP/1.0
    // client cannot read chunks), unless the caller's headers frame it.
    if (framing == Framing::Raw || (framing == Framing::Chunked && http_minor() == 0)) {
        framing = Framing::Raw;
        c.close_after_write_ = true;
    } else if (framing == Framing::Fixed && !c.keeps_alive()) {
        c.close_after_write_ = true;
    }
    protocol::ResponseHead framed = head;
    if (framing == Framing::Chunked)
        framed.add("Transfer-Encoding", "chunked");
    c.status_ = head.status();
    c.body_ = Connection::Body::Stream;
    c.framing_ = framing;
    c.queue(std::make_shared<const std::string>(framed.finish(std::nullopt, c.keeps_alive())));
    // With the turn's flush, not now: the first body bytes, usually sent in the same turn (a
    // proxied response, a stream's stored messages), leave in the same write as the head.
    c.owner_.flush_soon(&c);
}

size_t Exchange::unsent() const {
    return connection_.output_.bytes();
}

void Exchange::abort() {
    Connection& c = connection_;
    c.observer_ = nullptr;
    c.log_exchange(c.status_);
    c.close();
}

void Exchange::send(SharedBytes bytes) {
    Connection& c = connection_;
    if (bytes->empty() || c.closed_ || c.head_request_)
        return;
    c.body_bytes_ += bytes->size();
    if (c.framing_ == Framing::Chunked) {
        c.queue(chunk_size_line(bytes->size()));
        c.queue(std::move(bytes));
        c.queue(crlf());
    } else {
        c.queue(std::move(bytes));
    }
    c.owner_.flush_soon(&c);
}

void Exchange::end_stream(bool close) {
    Connection& c = connection_;
    if (c.framing_ == Framing::Chunked && !c.head_request_) {
        static const SharedBytes last = std::make_shared<const std::string>("0\r\n\r\n");
        c.queue(last);
    }
    // A stream begun before a graceful stop said keep-alive; the stop closes it all the same.
    if (close || c.owner_.stopping())
        c.close_after_write_ = true;
    c.log_exchange(c.status_);
    c.end_exchange();
    c.flush();
}

void Exchange::upgrade(SharedBytes head, Takeover takeover) {
    Connection& c = connection_;
    c.status_ = 101;
    c.queue(std::move(head));
    c.log_exchange(101);
    c.observer_ = nullptr;
    c.takeover_ = std::move(takeover);
    c.close_after_write_ = true;
    c.flush();
}

void Connection::run_on_end() {
    if (std::function<void()> done = std::exchange(on_end_, nullptr))
        done();
}

// ---- Connections ----

Connections::Connections(struct ev_loop* loop, Handler& handler,
                         std::function<void(size_t)> count_changed)
    : loop_(loop), handler_(handler), count_changed_(std::move(count_changed)) {
    ev_check_init(&reaper_, on_check);
    reaper_.data = this;
    ev_check_start(loop_, &reaper_);
    ev_prepare_init(&flusher_, on_prepare);
    flusher_.data = this;
    ev_prepare_start(loop_, &flusher_);
}

Connections::~Connections() {
    close_all();
    graveyard_.clear();
    ev_check_stop(loop_, &reaper_);
    ev_prepare_stop(loop_, &flusher_);
}

void Connections::adopt(core::UniqueFd socket, const sockaddr_storage& peer,
                        const conf::Server& server) {
    auto connection = std::make_unique<Connection>(*this, std::move(socket), peer, server);
    connection->index_ = open_.size();
    Connection* c = connection.get();
    open_.push_back(std::move(connection));
    count_changed_(open_.size());
    c->start();
}

void Connections::retire(Connection* connection) {
    size_t i = connection->index_;
    if (i >= open_.size() || open_[i].get() != connection)
        return;
    graveyard_.push_back(std::move(open_[i]));
    if (i + 1 != open_.size()) {
        open_[i] = std::move(open_.back());
        open_[i]->index_ = i;
    }
    open_.pop_back();
    count_changed_(open_.size());
}

void Connections::close_later(Connection* connection) {
    if (!connection->close_pending_) {
        connection->close_pending_ = true;
        closing_.push_back(connection);
    }
}

void Connections::flush_soon(Connection* connection) {
    if (!connection->flush_listed_) {
        connection->flush_listed_ = true;
        connection->flush_index_ = flushing_.size();
        flushing_.push_back(connection);
    }
}

void Connections::forget_flush(Connection* connection) {
    if (!connection->flush_listed_)
        return;
    connection->flush_listed_ = false;
    size_t i = connection->flush_index_;
    flushing_[i] = flushing_.back();
    flushing_[i]->flush_index_ = i;
    flushing_.pop_back();
}

// After every callback of the turn (the subscribers' deliveries included), before the loop waits.
void Connections::on_prepare(struct ev_loop*, ev_prepare* w, int) {
    auto* self = static_cast<Connections*>(w->data);
    while (!self->flushing_.empty()) {
        Connection* c = self->flushing_.back();
        self->flushing_.pop_back();
        c->flush_listed_ = false;
        c->flush_stream();
    }
}

void Connections::on_check(struct ev_loop*, ev_check* w, int) {
    auto* self = static_cast<Connections*>(w->data);
    // Before the graveyard goes: a connection retired this iteration may be listed here too.
    for (Connection* c : std::exchange(self->closing_, {})) c->close();
    self->graveyard_.clear();
}

void Connections::stop_gracefully() {
    stopping_ = true;
    // close_if_idle() may retire (and so reorder) connections: walk a copy.
    std::vector<Connection*> open;
    for (auto& c : open_) open.push_back(c.get());
    for (Connection* c : open) c->close_if_idle();
}

void Connections::close_all() {
    while (!open_.empty()) open_.back()->close();
}

// ---- Connection ----

Connection::Connection(Connections& owner, core::UniqueFd socket, const sockaddr_storage& peer,
                       const conf::Server& server)
    : owner_(owner), socket_(std::move(socket)), peer_(peer), server_(server) {
    ev_io_init(&read_watcher_, on_readable, socket_.get(), EV_READ);
    ev_io_init(&write_watcher_, on_writable, socket_.get(), EV_WRITE);
    ev_init(&timer_, on_timer);
    read_watcher_.data = write_watcher_.data = timer_.data = this;
}

Connection::~Connection() {
    if (!closed_)
        close();
}

void Connection::start() {
    ev_io_start(owner_.loop(), &read_watcher_);
    arm_timer(server_.fallback.http.client_header_timeout);
}

const conf::HttpSettings& Connection::http_settings() const {
    return location_ ? location_->http : server_.fallback.http;
}

void Connection::note_request() {
    const protocol::Request& req = parser_.request();
    request_keep_alive_ = req.keep_alive;
    head_request_ = req.method == "HEAD";
    http_minor_ = static_cast<uint8_t>(req.http_minor);
}

bool Connection::keeps_alive() const {
    return request_keep_alive_ && !close_after_write_ && !owner_.stopping() &&
           requests_ + 1 < http_settings().keepalive_requests;
}

void Connection::arm_timer(conf::Millis timeout) {
    ev_timer_stop(owner_.loop(), &timer_);
    if (timeout.count() <= 0)
        return;
    ev_timer_set(&timer_, timeout.count() / 1000.0, 0.);
    ev_timer_start(owner_.loop(), &timer_);
}

void Connection::on_readable(struct ev_loop*, ev_io* w, int) {
    static_cast<Connection*>(w->data)->read_input();
}

void Connection::on_writable(struct ev_loop*, ev_io* w, int) {
    static_cast<Connection*>(w->data)->flush();
}

void Connection::on_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Connection*>(w->data)->on_timeout();
}

void Connection::read_input() {
    // One buffer for every connection of the process (it has one thread): a connection keeps
    // only the bytes it has not parsed yet, so ten thousand held subscribers do not each hold a
    // read buffer.
    static char chunk[kReadChunk];
    for (;;) {
        ssize_t n = ::read(socket_.get(), chunk, sizeof chunk);
        if (n > 0) {
            input_.append(chunk, n);
            if (static_cast<size_t>(n) < sizeof chunk)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        close();  // the client closed or reset: an open exchange is abandoned
        return;
    }
    if (state_ == State::Lingering) {
        discard_parsed_input(input_.size());
        return;
    }
    if (state_ == State::Processing) {
        // The exchange is open: keep the bytes for later, within a bound.
        if (input_.size() - input_pos_ > kMaxBufferedInput)
            ev_io_stop(owner_.loop(), &read_watcher_);
        return;
    }
    process_input();
    // A client that pipelines requests without reading the answers: parsing has stopped on the
    // pending output, so stop reading too until it drains.
    if (!closed_ && output_.bytes() >= kMaxPendingOutput &&
        input_.size() - input_pos_ > kMaxBufferedInput) {
        ev_io_stop(owner_.loop(), &read_watcher_);
    }
}

// Forgets the first `parsed` bytes of input. Memory goes back once all is parsed: a large
// request must not leave its buffer to a connection that then waits for minutes.
void Connection::discard_parsed_input(size_t parsed) {
    if (parsed < input_.size()) {
        // Keep only the unparsed tail, so a client that always leaves half a request behind
        // cannot grow the buffer.
        input_.erase(0, parsed);
        input_pos_ = 0;
        return;
    }
    if (input_.capacity() > kKeptInputCapacity) {
        std::string().swap(input_);
    } else {
        input_.clear();
    }
    input_pos_ = 0;
}

void Connection::process_input() {
    if (in_process_input_ || closed_)
        return;
    in_process_input_ = true;
    // After the header block the parser must be fed again even with no bytes left: a request
    // without a body completes on that empty feed.
    bool body_pending = false;
    while (!closed_ && state_ != State::Processing && state_ != State::Lingering &&
           (input_pos_ < input_.size() || body_pending) && output_.bytes() < kMaxPendingOutput) {
        if (state_ == State::Idle) {
            state_ = State::Reading;
            request_started_ = ev_now(owner_.loop());
            arm_timer(http_settings().client_header_timeout);
        }
        auto step = parser_.feed(input_.data() + input_pos_, input_.size() - input_pos_);
        input_pos_ += step.consumed;
        body_pending = step.event == protocol::RequestParser::Event::HeadersComplete;
        switch (step.event) {
            case protocol::RequestParser::Event::NeedMore:
                break;
            case protocol::RequestParser::Event::HeadersComplete:
                on_headers_complete();
                break;
            case protocol::RequestParser::Event::MessageComplete:
                on_message_complete();
                break;
            case protocol::RequestParser::Event::Error:
                fail(parser_.error_status(), parser_.error_reason());
                break;
        }
        if (step.event == protocol::RequestParser::Event::NeedMore)
            break;
    }
    if (!closed_ && !takeover_)
        discard_parsed_input(input_pos_);
    in_process_input_ = false;
}

void Connection::on_headers_complete() {
    const protocol::Request& req = parser_.request();
    captures_.clear();
    location_ = &conf::match_location(server_, req.path, captures_);
    if (!location_->http.allowed(reinterpret_cast<const sockaddr*>(&peer_))) {
        fail(403, "access forbidden by rule");
        return;
    }
    parser_.set_body_limit(location_->http.client_max_body_size);
    if (parser_.error_status() != 0) {
        // A Content-Length over the limit: refuse before reading (or inviting) the body.
        fail(parser_.error_status(), parser_.error_reason());
        return;
    }
    arm_timer(location_->http.client_body_timeout);
    if (parser_.expects_continue() && req.http_minor >= 1) {
        static const SharedBytes kContinue =
            std::make_shared<const std::string>("HTTP/1.1 100 Continue\r\n\r\n");
        output_.push(kContinue);
        flush();
    }
}

void Connection::on_message_complete() {
    note_request();
    state_ = State::Processing;
    ev_timer_stop(owner_.loop(), &timer_);
    owner_.handler().handle(exchange_);
}

// A request that cannot be served: answer and close (the stream may be out of sync).
void Connection::fail(int status, std::string_view reason) {
    note_request();
    close_after_write_ = true;
    state_ = State::Processing;
    LOG_INFO("client %s: %d %s", core::peer_address(exchange_.peer()).c_str(), status,
             log::escape(reason).c_str());
    exchange_.respond(status, {{"Content-Type", "text/plain"}},
                      protocol::error_body(status, reason));
}

void Connection::queue(SharedBytes bytes) {
    bytes_ += bytes->size();
    output_.push(std::move(bytes));
}

// A whole response is usually written at once: with nothing queued before it, it is written
// here and only what the socket did not take is queued (the output queue's memory is allocated
// only then). Any error leaves it all queued for flush(), which handles errors; closing here
// would tell the exchange's observer while the handler is still answering it.
void Connection::write_or_queue(SharedBytes head, SharedBytes body) {
    bytes_ += head->size() + (body ? body->size() : 0);
    if (!output_.empty() || closed_) {
        output_.push(std::move(head));
        if (body)
            output_.push(std::move(body));
        return;
    }
    iovec iov[2] = {{const_cast<char*>(head->data()), head->size()}, {}};
    int n = 1;
    if (body) {
        iov[1] = {const_cast<char*>(body->data()), body->size()};
        n = 2;
    }
    ssize_t written;
    do {
        written = ::writev(socket_.get(), iov, n);
    } while (written < 0 && errno == EINTR);
    size_t done = written > 0 ? static_cast<size_t>(written) : 0;
    if (done < head->size()) {
        output_.push(std::move(head), done);
        done = 0;
    } else {
        done -= head->size();
    }
    if (body && done < body->size())
        output_.push(std::move(body), done);
}

void Connection::log_exchange(int status) {
    double now = ev_now(owner_.loop());
    access_log::write(http_settings(),
                      {parser_.request(), reinterpret_cast<const sockaddr*>(&peer_), status,
                       body_bytes_, bytes_, now - request_started_, now});
}

// The exchange is answered (or handed over): get ready for the next request, or the close.
void Connection::end_exchange() {
    observer_ = nullptr;
    run_on_end();
    body_ = Body::None;
    status_ = 0;
    body_bytes_ = bytes_ = 0;
    requests_++;
    if (close_after_write_) {
        ev_timer_stop(owner_.loop(), &timer_);
        return;
    }
    parser_.reset();
    location_ = nullptr;
    state_ = State::Idle;
    if (!ev_is_active(&read_watcher_))
        ev_io_start(owner_.loop(), &read_watcher_);
    arm_timer(server_.fallback.http.keepalive_timeout);
    process_input();
}

void Connection::flush() {
    switch (output_.write_to(socket_.get())) {
        case OutputQueue::Write::Drained:
            break;
        case OutputQueue::Write::WouldBlock:
            if (!ev_is_active(&write_watcher_))
                ev_io_start(owner_.loop(), &write_watcher_);
            if (!ev_is_active(&timer_))
                arm_timer(kSendTimeout);
            return;
        case OutputQueue::Write::Failed:
            // With an exchange open its handler may be in the middle of a call (a send among a
            // list of subscribers): the observer is told from the loop, never under the caller.
            if (observer_)
                owner_.close_later(this);
            else
                close();
            return;
    }
    ev_io_stop(owner_.loop(), &write_watcher_);
    if (body_ == Body::Stream && observer_ && !in_flush_callback_) {
        // A write the loop drove, or the end of a send burst.
        in_flush_callback_ = true;
        observer_->exchange_drained();
        in_flush_callback_ = false;
        if (closed_)
            return;
    }
    if (takeover_) {
        hand_over();
        return;
    }
    if (close_after_write_ && body_ != Body::Stream) {
        start_lingering_close();
        return;
    }
    if (state_ == State::Processing) {
        // An open exchange (held or streaming) has no timeout of ours while nothing is pending.
        ev_timer_stop(owner_.loop(), &timer_);
        return;
    }
    // A pipelined request may have waited for the output to drain.
    if (!ev_is_active(&read_watcher_))
        ev_io_start(owner_.loop(), &read_watcher_);
    process_input();
}

// Shut our side and read what the client still sends for a moment, so that the kernel does not
// answer unread input with a reset that destroys the response in flight.
void Connection::start_lingering_close() {
    if (state_ == State::Lingering)
        return;
    state_ = State::Lingering;
    ::shutdown(socket_.get(), SHUT_WR);
    if (!ev_is_active(&read_watcher_))
        ev_io_start(owner_.loop(), &read_watcher_);
    arm_timer(kLingeringTimeout);
}

// The upgrade's head is written: the socket and what the client sent after the request go to the
// new protocol, and this connection is gone.
void Connection::hand_over() {
    ev_io_stop(owner_.loop(), &read_watcher_);
    ev_io_stop(owner_.loop(), &write_watcher_);
    ev_timer_stop(owner_.loop(), &timer_);
    closed_ = true;
    Exchange::Takeover takeover = std::move(takeover_);
    std::string unread = input_.substr(input_pos_);
    std::function<void()> on_end = std::exchange(on_end_, nullptr);
    owner_.retire(this);
    takeover(std::move(socket_), std::move(unread), std::move(on_end));
}

void Connection::on_timeout() {
    close();
}

void Connection::close_if_idle() {
    // A connection accepted just before the stop has a request on its way: closing it would fail
    // a client that did nothing wrong. It is answered (with Connection: close) or times out.
    if (state_ == State::Idle && output_.empty() && requests_ > 0)
        close();
}

void Connection::flush_stream() {
    flush();
    if (!closed_ && body_ == Body::Stream && output_.bytes() > max_unsent_) {
        LOG_INFO(
            "client %s: more than %zu bytes of a stream unread "
            "(push_subscriber_max_unsent_bytes), closing",
            core::peer_address(exchange_.peer()).c_str(), max_unsent_);
        close();
    }
}

void Connection::close() {
    if (closed_)
        return;
    closed_ = true;
    owner_.forget_flush(this);
    ev_io_stop(owner_.loop(), &read_watcher_);
    ev_io_stop(owner_.loop(), &write_watcher_);
    ev_timer_stop(owner_.loop(), &timer_);
    socket_.reset();
    if (ExchangeObserver* observer = std::exchange(observer_, nullptr)) {
        // An exchange left open: a stream logs what it sent; a held request was never answered.
        log_exchange(body_ == Body::Stream ? status_ : kClientClosedRequest);
        observer->exchange_aborted();
    }
    run_on_end();
    owner_.retire(this);
}

}  // namespace pushrelay::http
