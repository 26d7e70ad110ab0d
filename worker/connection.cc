#include "worker/connection.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/peer_address.h"
#include "protocol/response.h"
#include "worker/access_log.h"
#include "worker/core.h"
#include "worker/handlers.h"

namespace pushrelay::worker {
namespace {

constexpr size_t kReadChunk = 65536;
constexpr size_t kKeptInputCapacity = 4096;
// Pipelined requests are not parsed while this much output waits for a slow
// reader: the client must read before it may ask for more.
constexpr size_t kMaxPendingOutput = 4 << 20;
// Bytes a held subscriber may send (pipelining) before we stop reading it.
constexpr size_t kMaxBufferedInput = 64 << 10;
constexpr conf::Millis kSendTimeout{60000};
constexpr conf::Millis kLingeringTimeout{2000};
constexpr int kMaxIovecs = 64;

}  // namespace

Connection::Connection(Worker& worker, int fd, const sockaddr_storage& peer,
                       const conf::Server& server)
    : worker_(worker), fd_(fd), peer_(peer), server_(server) {
    ev_io_init(&read_watcher_, on_readable, fd_, EV_READ);
    ev_io_init(&write_watcher_, on_writable, fd_, EV_WRITE);
    ev_init(&timer_, on_timer);
    read_watcher_.data = write_watcher_.data = timer_.data = this;
}

Connection::~Connection() {
    if (!closed_)
        close();
}

void Connection::start() {
    ev_io_start(worker_.loop(), &read_watcher_);
    arm_timer(server_.fallback.http.client_header_timeout);
}

const conf::HttpSettings& Connection::http_settings() const {
    return location_ ? location_->http : server_.fallback.http;
}

bool Connection::keeps_alive() const {
    return parser_.request().keep_alive && !close_after_write_ && !worker_.shutting_down() &&
           requests_ + 1 < http_settings().keepalive_requests;
}

void Connection::arm_timer(conf::Millis timeout) {
    ev_timer_stop(worker_.loop(), &timer_);
    if (timeout.count() <= 0)
        return;
    ev_timer_set(&timer_, timeout.count() / 1000.0, 0.);
    ev_timer_start(worker_.loop(), &timer_);
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
    // One buffer for every connection of the process (it has one thread): a
    // connection keeps only the bytes it has not parsed yet, so ten thousand
    // held subscribers do not each hold a read buffer.
    static char chunk[kReadChunk];
    for (;;) {
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
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
        client_gone();
        return;
    }
    if (state_ == State::Lingering) {
        discard_parsed_input(input_.size());
        return;
    }
    if (state_ == State::Processing) {
        // Held: keep the bytes for later, within a bound.
        if (input_.size() - input_pos_ > kMaxBufferedInput)
            ev_io_stop(worker_.loop(), &read_watcher_);
        return;
    }
    process_input();
    // A client that pipelines requests without reading the answers: parsing has
    // stopped on the pending output, so stop reading too until it drains.
    if (!closed_ && output_.bytes() >= kMaxPendingOutput &&
        input_.size() - input_pos_ > kMaxBufferedInput) {
        ev_io_stop(worker_.loop(), &read_watcher_);
    }
}

// Forgets the first `parsed` bytes of input. Memory goes back once all is
// parsed: a large request must not leave its buffer to a connection that
// then waits for minutes.
void Connection::discard_parsed_input(size_t parsed) {
    if (parsed < input_.size()) {
        // Keep only the unparsed tail, so a client that always leaves half a
        // request behind cannot grow the buffer.
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

// The client closed (or reset) its side: a request in progress is abandoned,
// a held subscriber forgotten at once (close() releases its count).
void Connection::client_gone() {
    close();
}

// Leaves the waiting list and gives the subscriber's count back to the store.
void Connection::release_hold() {
    if (!hold_)
        return;
    Hold h = *hold_;
    unhold();
    worker_.store().release_waiters(h.key, h.uid, worker_.slot(), 1, worker_.now_ms());
}

void Connection::process_input() {
    if (in_process_input_ || closed_)
        return;
    in_process_input_ = true;
    // After the header block the parser must be fed again even with no bytes
    // left: a request without a body completes on that empty feed.
    bool body_pending = false;
    while (!closed_ && state_ != State::Processing && state_ != State::Lingering &&
           (input_pos_ < input_.size() || body_pending) && output_.bytes() < kMaxPendingOutput) {
        if (state_ == State::Idle) {
            state_ = State::Reading;
            request_started_ = ev_now(worker_.loop());
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
    discard_parsed_input(input_pos_);
    in_process_input_ = false;
}

void Connection::on_headers_complete() {
    const protocol::Request& req = parser_.request();
    captures_.clear();
    location_ = &conf::match_location(server_, req.path, captures_);
    if (!location_->http.allowed(peer())) {
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
        static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        output_.push(std::make_shared<const std::string>(kContinue));
        flush();
    }
}

void Connection::on_message_complete() {
    state_ = State::Processing;
    ev_timer_stop(worker_.loop(), &timer_);
    handle_request(worker_, *this);
}

// A request that cannot be served: answer and close (the stream may be out of sync).
void Connection::fail(int status, std::string_view reason) {
    close_after_write_ = true;
    state_ = State::Processing;
    LOG_INFO("client %s: %d %s", core::peer_address(peer()).c_str(), status,
             log::escape(reason).c_str());
    respond(status, {{"Content-Type", "text/plain"}}, protocol::error_body(status, reason));
}

void Connection::respond(int status, const std::vector<protocol::Header>& headers,
                         std::string body) {
    protocol::ResponseHead head(status, parser_.request().http_minor == 0 ? 0 : 1);
    for (const protocol::Header& h : headers) head.add(h.name, h.value);
    bool keep = keeps_alive();
    auto head_bytes = std::make_shared<const std::string>(head.finish(body.size(), keep));
    if (!keep)
        close_after_write_ = true;
    respond(status, std::move(head_bytes), std::make_shared<const std::string>(std::move(body)));
}

void Connection::respond(int status, SharedBytes head, SharedBytes body) {
    if (!keeps_alive())
        close_after_write_ = true;
    double now = ev_now(worker_.loop());
    access_log::write(http_settings(), {parser_.request(), peer(), status, body->size(),
                                        head->size() + body->size(), now - request_started_, now});
    // A response to HEAD has the headers of the GET response and no body.
    bool send_body = !body->empty() && parser_.request().method != "HEAD";
    output_.push(std::move(head));
    if (send_body)
        output_.push(std::move(body));
    requests_++;
    finish_response();
    flush();
}

// The response is queued: get ready for the next request (or the close).
void Connection::finish_response() {
    if (hold_)
        unhold();
    if (close_after_write_) {
        ev_timer_stop(worker_.loop(), &timer_);
        return;
    }
    parser_.reset();
    location_ = nullptr;
    state_ = State::Idle;
    if (!ev_is_active(&read_watcher_))
        ev_io_start(worker_.loop(), &read_watcher_);
    arm_timer(server_.fallback.http.keepalive_timeout);
    process_input();
}

void Connection::flush() {
    while (!output_.empty()) {
        iovec iov[kMaxIovecs];
        int n = output_.gather(iov, kMaxIovecs);
        ssize_t written = ::writev(fd_, iov, n);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!ev_is_active(&write_watcher_))
                    ev_io_start(worker_.loop(), &write_watcher_);
                if (!ev_is_active(&timer_) && state_ != State::Processing)
                    arm_timer(kSendTimeout);
                return;
            }
            client_gone();
            return;
        }
        output_.consume(written);
    }
    ev_io_stop(worker_.loop(), &write_watcher_);
    if (close_after_write_) {
        start_lingering_close();
        return;
    }
    // A pipelined request may have waited for the output to drain.
    if (state_ != State::Processing) {
        if (!ev_is_active(&read_watcher_))
            ev_io_start(worker_.loop(), &read_watcher_);
        process_input();
    }
}

// Shut our side and read what the client still sends for a moment, so that
// the kernel does not answer unread input with a reset that destroys the
// response in flight.
void Connection::start_lingering_close() {
    if (state_ == State::Lingering)
        return;
    state_ = State::Lingering;
    ::shutdown(fd_, SHUT_WR);
    if (!ev_is_active(&read_watcher_))
        ev_io_start(worker_.loop(), &read_watcher_);
    arm_timer(kLingeringTimeout);
}

void Connection::on_timeout() {
    if (hold_) {
        // push_subscriber_timeout: 304, and the client polls again with the same ids.
        release_hold();
        respond_not_modified(*this);
        return;
    }
    close();
}

void Connection::hold(Hold hold) {
    hold_ = std::move(hold);
    hold_->position = worker_.hold(hold_->uid, hold_->key, this);
    arm_timer(location_->push.subscriber_timeout);
}

void Connection::unhold() {
    if (!hold_)
        return;
    worker_.unhold(hold_->uid, hold_->position);
    hold_.reset();
    ev_timer_stop(worker_.loop(), &timer_);
}

void Connection::OutputQueue::push(SharedBytes bytes) {
    bytes_ += bytes->size();
    chunks_.push_back({std::move(bytes), 0});
}

int Connection::OutputQueue::gather(iovec* iov, int max) const {
    int n = 0;
    for (size_t i = head_; i < chunks_.size() && n < max; i++, n++) {
        const Chunk& c = chunks_[i];
        iov[n].iov_base = const_cast<char*>(c.bytes->data() + c.offset);
        iov[n].iov_len = c.bytes->size() - c.offset;
    }
    return n;
}

void Connection::OutputQueue::consume(size_t n) {
    bytes_ -= n;
    while (n > 0) {
        Chunk& c = chunks_[head_];
        size_t left = c.bytes->size() - c.offset;
        if (n < left) {
            c.offset += n;
            return;
        }
        n -= left;
        c.bytes.reset();
        head_++;
    }
    if (head_ == chunks_.size()) {
        // Everything is written: give the memory back rather than keep it for a
        // connection that may now wait for minutes.
        std::vector<Chunk>().swap(chunks_);
        head_ = 0;
    }
}

void Connection::close_if_idle() {
    // A connection accepted just before the stop has a request on its way:
    // closing it would fail a client that did nothing wrong. It is answered
    // (with Connection: close) or times out instead.
    if (state_ == State::Idle && output_.empty() && requests_ > 0)
        close();
}

void Connection::close() {
    if (closed_)
        return;
    closed_ = true;
    release_hold();
    ev_io_stop(worker_.loop(), &read_watcher_);
    ev_io_stop(worker_.loop(), &write_watcher_);
    ev_timer_stop(worker_.loop(), &timer_);
    ::close(fd_);
    worker_.retire(this);
}

}  // namespace pushrelay::worker
