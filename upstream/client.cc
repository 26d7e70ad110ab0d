#include "upstream/client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace pushrelay::upstream {

namespace {

std::string errno_text(const char* call, int err) {
    return std::string(call) + " failed: " + std::strerror(err);
}

std::string connect_error(int err) {
    switch (err) {
        case ECONNREFUSED:
            return "connection refused";
        case ENETUNREACH:
        case EHOSTUNREACH:
            return std::string("origin unreachable: ") + std::strerror(err);
        case ETIMEDOUT:
            return "connect timeout";  // the kernel gave up before our timer did
        default:
            return errno_text("connect()", err);
    }
}

// Methods whose requests carry a body by definition: they get "Content-Length: 0" when the body
// is empty, since some origins answer 411 to a POST without one. Others get a length only when
// they have a body, so a plain GET looks the way every client sends it.
bool method_expects_body(std::string_view method) {
    return method == "POST" || method == "PUT" || method == "PATCH";
}

// True when a Connection header of `headers` lists the "close" option (RFC 9110 §7.6.1).
bool asks_close(const std::vector<protocol::Header>& headers) {
    for (const protocol::Header& h : headers) {
        if (!protocol::iequals(h.name, "Connection")) {
            continue;
        }
        std::string_view rest = h.value;
        while (!rest.empty()) {
            size_t comma = rest.find(',');
            if (protocol::iequals(protocol::trim_ows(rest.substr(0, comma)), "close")) {
                return true;
            }
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    return false;
}

std::string request_head(const Request& request) {
    std::string head = request.method + " " + request.target + " HTTP/1.1\r\n";
    for (const protocol::Header& h : request.headers) {
        if (protocol::iequals(h.name, "Content-Length") ||
            protocol::iequals(h.name, "Transfer-Encoding")) {
            continue;
        }
        head += h.name + ": " + h.value + "\r\n";
    }
    if (!request.body.empty() || method_expects_body(request.method)) {
        head += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
    }
    head += "\r\n";
    return head;
}

}  // namespace

// ---- Socket ----

Socket::Socket(int fd_in) : fd(fd_in) {
    ev_init(&io, nullptr);
    ev_io_set(&io, fd_in, 0);  // marks the fd as new to libev, once
}

// ---- Call ----

Call::Call(Pool& pool, Request request, Observer& observer)
    : pool_(pool),
      observer_(observer),
      request_(std::move(request)),
      request_head_(request_head(request_)),
      request_close_(asks_close(request_.headers)) {
    ev_init(&timeout_, on_timeout);
    timeout_.data = this;
    ev_init(&soon_, on_soon);
    soon_.data = this;
}

Call::~Call() {
    if (destroyed_flag_ != nullptr) {
        *destroyed_flag_ = true;
    }
    stop_watchers();
    ev_timer_stop(pool_.loop_, &soon_);
    // socket_ closes here unless complete() gave it back to the pool.
}

void Call::begin() {
    starting_ = true;
    socket_ = pool_.take_idle();
    if (socket_) {
        adopt_socket();
        reused_ = true;
        start_exchange();
    } else {
        open_connection();
    }
    starting_ = false;
}

void Call::open_connection() {
    const auto* address = reinterpret_cast<const sockaddr*>(&pool_.origin_.address);
    int fd = ::socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_soon(errno_text("socket()", errno));
        return;
    }
    socket_ = std::make_unique<Socket>(fd);
    adopt_socket();
    pool_.opened_++;
    // Requests go out in one or two writes and wait for the answer: Nagle would only delay them.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    state_ = State::Connecting;
    if (::connect(fd, address, pool_.origin_.length) == 0) {
        start_exchange();
        return;
    }
    if (errno != EINPROGRESS) {
        fail_soon(connect_error(errno));
        return;
    }
    arm_timeout(pool_.settings_.connect_timeout);
    update_watchers();
}

void Call::on_connected() {
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(socket_->fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        fail(connect_error(err));
        return;
    }
    start_exchange();
}

void Call::start_exchange() {
    state_ = State::Active;
    parser_ = std::make_unique<ResponseParser>(request_.method == "HEAD", pool_.settings_.limits);
    if (!buffer_) {
        buffer_ = pool_.take_buffer();
    }
    written_ = 0;
    pos_ = end_ = 0;
    head_delivered_ = false;
    arm_timeout(pool_.settings_.read_timeout);
    if (write_some()) {
        update_watchers();
    }
}

size_t Call::request_size() const {
    return request_head_.size() + request_.body.size();
}

bool Call::write_some() {
    const std::string& head = request_head_;
    const std::string& body = request_.body;
    while (written_ < request_size()) {
        iovec iov[2];
        size_t n = 0;
        if (written_ < head.size()) {
            iov[n++] = {const_cast<char*>(head.data()) + written_, head.size() - written_};
        }
        size_t body_done = written_ > head.size() ? written_ - head.size() : 0;
        if (body_done < body.size()) {
            iov[n++] = {const_cast<char*>(body.data()) + body_done, body.size() - body_done};
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = n;
        // MSG_NOSIGNAL: an origin that closed must give EPIPE here, not kill the worker.
        ssize_t w = ::sendmsg(socket_->fd.get(), &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (w < 0) {
            connection_failed(errno == EPIPE || errno == ECONNRESET
                                  ? "connection reset"
                                  : errno_text("sendmsg()", errno));
            return false;
        }
        written_ += static_cast<size_t>(w);
        ev_timer_again(pool_.loop_, &timeout_);
    }
    return true;
}

void Call::read_some() {
    // Only reached with the buffer drained (update_watchers() reads only then), so each read
    // starts at the front and the held bytes never exceed one buffer.
    pos_ = end_ = 0;
    ssize_t n = ::recv(socket_->fd.get(), buffer_.get(), pool_.settings_.read_buffer, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        }
        std::string reason = errno == ECONNRESET ? "connection reset" : errno_text("recv()", errno);
        if (parser_->started()) {
            fail(std::move(reason));
        } else {
            connection_failed(std::move(reason));
        }
        return;
    }
    if (n == 0) {
        if (!parser_->started()) {
            connection_failed("origin closed the connection without a response");
            return;
        }
        deliver(parser_->finish());
        return;
    }
    end_ = static_cast<size_t>(n);
    ev_timer_again(pool_.loop_, &timeout_);
    process();
}

void Call::process() {
    while (!paused_) {
        ResponseParser::Step step = parser_->feed(buffer_.get() + pos_, end_ - pos_);
        pos_ += step.consumed;
        if (step.event == ResponseParser::Event::NeedMore) {
            pos_ = end_ = 0;
            break;
        }
        if (!deliver(step)) {
            return;
        }
    }
    update_watchers();
}

bool Call::deliver(const ResponseParser::Step& step) {
    switch (step.event) {
        case ResponseParser::Event::Complete:
            complete();
            return false;
        case ResponseParser::Event::Error:
            fail(std::string(parser_->error()));
            return false;
        case ResponseParser::Event::NeedMore:
            return true;
        case ResponseParser::Event::Head:
        case ResponseParser::Event::Body:
            break;
    }
    // The observer may destroy this Call; the destructor sets `destroyed` through the pointer.
    bool destroyed = false;
    destroyed_flag_ = &destroyed;
    if (step.event == ResponseParser::Event::Head) {
        head_delivered_ = true;
        observer_.on_head(parser_->head());
    } else {
        observer_.on_body(step.body);
    }
    if (destroyed) {
        return false;
    }
    destroyed_flag_ = nullptr;
    return true;
}

void Call::complete() {
    state_ = State::Done;
    stop_watchers();
    const bool reusable =
        parser_->keep_alive() && !request_close_ && written_ == request_size() && pos_ == end_;
    if (reusable) {
        pool_.put_idle(std::move(socket_));
    } else {
        socket_.reset();
    }
    pool_.give_buffer(std::move(buffer_));
    observer_.on_end();  // last: the observer may destroy this Call
}

void Call::fail(std::string reason) {
    if (starting_) {
        // A loopback connect() can succeed at once and the first write fail inside start(),
        // whose caller does not hold the Call yet: it hears of the failure from the loop.
        fail_soon(std::move(reason));
        return;
    }
    state_ = State::Done;
    stop_watchers();
    socket_.reset();
    pool_.give_buffer(std::move(buffer_));
    observer_.on_error(reason);  // last: the observer may destroy this Call
}

void Call::fail_soon(std::string reason) {
    state_ = State::Done;  // pause() and resume() must not revive a connection that is gone
    stop_watchers();
    socket_.reset();
    pending_error_ = std::move(reason);
    ev_timer_set(&soon_, 0, 0);
    ev_timer_start(pool_.loop_, &soon_);
}

void Call::connection_failed(std::string reason) {
    const bool retry = reused_ && !retried_ && !(parser_ && parser_->started());
    if (!retry) {
        fail(std::move(reason));
        return;
    }
    // The origin closed a kept-alive connection as we reused it (a race no client can avoid):
    // nothing of the response came, so the request is sent again on a new connection.
    retried_ = true;
    reused_ = false;
    stop_watchers();
    socket_.reset();
    open_connection();
}

void Call::pause() {
    if (state_ == State::Done || paused_) {
        return;
    }
    paused_ = true;
    update_watchers();
}

void Call::resume() {
    if (state_ == State::Done || !paused_) {
        return;
    }
    paused_ = false;
    // Held bytes are delivered from the loop: the caller may be resuming from inside one of its
    // own callbacks, where another observer call would re-enter it.
    ev_timer_set(&soon_, 0, 0);
    ev_timer_start(pool_.loop_, &soon_);
}

void Call::arm_timeout(double seconds) {
    timeout_.repeat = seconds;
    ev_timer_again(pool_.loop_, &timeout_);
}

void Call::adopt_socket() {
    ev_set_cb(&socket_->io, on_io);
    socket_->io.data = this;
}

void Call::stop_watchers() {
    if (socket_)
        ev_io_stop(pool_.loop_, &socket_->io);
    ev_timer_stop(pool_.loop_, &timeout_);
}

void Call::update_watchers() {
    int events = 0;
    const bool writing = state_ == State::Active && written_ < request_size();
    if (state_ == State::Connecting || writing) {
        events |= EV_WRITE;
    }
    if (state_ == State::Active && !paused_ && pos_ == end_) {
        events |= EV_READ;
    }
    ev_io& io = socket_->io;
    const bool same = ev_is_active(&io) && (io.events & (EV_READ | EV_WRITE)) == events;
    if (!same) {
        ev_io_stop(pool_.loop_, &io);
        if (events != 0) {
            ev_io_modify(&io, events);
            ev_io_start(pool_.loop_, &io);
        }
    }
    // A paused call waits for its client, not for the origin: its read timeout stops meanwhile.
    const bool timed = state_ == State::Connecting || writing || !paused_;
    if (!timed) {
        ev_timer_stop(pool_.loop_, &timeout_);
    } else if (!ev_is_active(&timeout_)) {
        ev_timer_again(pool_.loop_, &timeout_);
    }
}

void Call::on_io(struct ev_loop*, ev_io* w, int revents) {
    auto* call = static_cast<Call*>(w->data);
    if (call->state_ == State::Connecting) {
        call->on_connected();
        return;
    }
    if ((revents & EV_WRITE) != 0 && !call->write_some()) {
        return;
    }
    if ((revents & EV_READ) != 0) {
        call->read_some();
        return;
    }
    call->update_watchers();
}

void Call::on_timeout(struct ev_loop*, ev_timer* w, int) {
    auto* call = static_cast<Call*>(w->data);
    if (call->state_ == State::Connecting) {
        call->fail("connect timeout");
    } else if (call->written_ < call->request_size()) {
        call->fail("write timeout");
    } else {
        call->fail("read timeout");
    }
}

void Call::on_soon(struct ev_loop*, ev_timer* w, int) {
    auto* call = static_cast<Call*>(w->data);
    if (!call->pending_error_.empty()) {
        call->fail(std::exchange(call->pending_error_, {}));
        return;
    }
    if (call->state_ == State::Active) {
        call->process();
    }
}

// ---- Pool ----

Pool::Pool(struct ev_loop* loop, const Origin& origin, const Settings& settings)
    : loop_(loop), origin_(origin), settings_(settings) {}

Pool::~Pool() {
    for (const std::unique_ptr<Idle>& idle : idle_) {
        ev_io_stop(loop_, &idle->socket->io);
        ev_timer_stop(loop_, &idle->timer);
    }
}

std::unique_ptr<Call> Pool::start(Request request, Observer& observer) {
    std::unique_ptr<Call> call(new Call(*this, std::move(request), observer));
    call->begin();
    return call;
}

std::unique_ptr<Socket> Pool::take_idle() {
    if (idle_.empty()) {
        return {};
    }
    // The most recently used: the one least likely to have been closed by the origin meanwhile.
    std::unique_ptr<Idle> idle = std::move(idle_.back());
    idle_.pop_back();
    ev_io_stop(loop_, &idle->socket->io);
    ev_timer_stop(loop_, &idle->timer);
    return std::move(idle->socket);
}

std::unique_ptr<char[]> Pool::take_buffer() {
    if (spare_buffers_.empty())
        return std::make_unique_for_overwrite<char[]>(settings_.read_buffer);
    std::unique_ptr<char[]> buffer = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return buffer;
}

void Pool::give_buffer(std::unique_ptr<char[]> buffer) {
    // A few cover the calls that end and start within one loop turn; more would only hold the
    // peak of concurrent downloads for good.
    constexpr size_t kSpareBuffers = 4;
    if (buffer && spare_buffers_.size() < kSpareBuffers)
        spare_buffers_.push_back(std::move(buffer));
}

void Pool::put_idle(std::unique_ptr<Socket> socket) {
    if (settings_.keepalive == 0) {
        return;
    }
    if (idle_.size() >= settings_.keepalive) {
        drop_idle(idle_.front().get());  // the least recently used goes, as nginx's keepalive
    }
    auto idle = std::make_unique<Idle>();
    idle->pool = this;
    idle->socket = std::move(socket);
    ev_io& io = idle->socket->io;
    ev_set_cb(&io, on_idle_event);
    ev_io_modify(&io, EV_READ);
    io.data = idle.get();
    ev_timer_init(&idle->timer, on_idle_timeout, settings_.keepalive_timeout, 0);
    idle->timer.data = idle.get();
    ev_io_start(loop_, &io);
    if (settings_.keepalive_timeout > 0) {  // 0: no idle timeout, as for the call's timeouts
        ev_timer_start(loop_, &idle->timer);
    }
    idle_.push_back(std::move(idle));
}

void Pool::drop_idle(Idle* idle) {
    ev_io_stop(loop_, &idle->socket->io);
    ev_timer_stop(loop_, &idle->timer);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (it->get() == idle) {
            idle_.erase(it);  // closes the connection
            return;
        }
    }
}

// An idle connection that becomes readable was closed by the origin (EOF or reset) or sent
// bytes nobody asked for; either way it cannot carry another request.
void Pool::on_idle_event(struct ev_loop*, ev_io* w, int) {
    auto* idle = static_cast<Idle*>(w->data);
    idle->pool->drop_idle(idle);
}

void Pool::on_idle_timeout(struct ev_loop*, ev_timer* w, int) {
    auto* idle = static_cast<Idle*>(w->data);
    idle->pool->drop_idle(idle);
}

}  // namespace pushrelay::upstream
