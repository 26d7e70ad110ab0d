#include "ws/session.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace pushrelay::ws {
namespace {

// Bytes read per readiness event before the loop serves other clients.
constexpr std::size_t kReadBudget = 256 * 1024;
// RFC 6455 §7.1.1 lets the server wait for the client's close; transports.md bounds it.
constexpr double kCloseLinger = 0.25;
constexpr std::string_view kPublishingNotAllowed = "Publishing not allowed.";
constexpr std::string_view kNotUtf8 = "Invalid text frame (not UTF8).";

Session* self_of(void* user_data) {
    return static_cast<Session*>(user_data);
}

}  // namespace

Session::Session(struct ev_loop* loop, core::UniqueFd socket, std::string unread_input,
                 const SessionOptions& options, SessionObserver& observer, std::string peer)
    : loop_(loop),
      socket_(std::move(socket)),
      input_(std::move(unread_input)),
      options_(options),
      observer_(observer),
      peer_(std::move(peer)) {
    wslay_event_callbacks callbacks{};
    callbacks.recv_callback = recv_callback;
    callbacks.send_callback = send_callback;
    callbacks.on_frame_recv_start_callback = on_frame_start;
    callbacks.on_msg_recv_callback = on_message;
    if (wslay_event_context_server_init(&ctx_, &callbacks, this) != 0)
        std::abort();  // out of memory: the process's one policy, as operator new
    wslay_event_config_set_max_recv_msg_length(ctx_, options_.max_message_length);
    ev_io_init(&read_watcher_, on_readable, socket_.get(), EV_READ);
    ev_io_init(&write_watcher_, on_writable, socket_.get(), EV_WRITE);
    ev_prepare_init(&flush_watcher_, on_prepare);
    flush_watcher_.data = this;
    ev_init(&ping_timer_, on_ping_timer);
    ev_init(&linger_timer_, on_linger_timer);
    ev_init(&report_timer_, on_report);
    read_watcher_.data = write_watcher_.data = this;
    ping_timer_.data = linger_timer_.data = report_timer_.data = this;
}

Session::~Session() {
    ev_prepare_stop(loop_, &flush_watcher_);
    ev_io_stop(loop_, &read_watcher_);
    ev_io_stop(loop_, &write_watcher_);
    ev_timer_stop(loop_, &ping_timer_);
    ev_timer_stop(loop_, &linger_timer_);
    ev_timer_stop(loop_, &report_timer_);
    wslay_event_context_free(ctx_);
}

void Session::start() {
    ev_io_start(loop_, &read_watcher_);
    if (options_.ping_interval > 0) {
        ev_timer_set(&ping_timer_, options_.ping_interval, options_.ping_interval);
        ev_timer_start(loop_, &ping_timer_);
    }
    // Frames that came with the handshake's last packet are read on the next loop turn.
    if (input_pos_ < input_.size())
        ev_feed_event(loop_, &read_watcher_, EV_READ);
}

void Session::send(core::SharedBytes frame) {
    if (closing())
        return;
    queue(std::move(frame));
}

void Session::close(std::uint16_t code, std::string_view reason) {
    if (closing())
        return;
    own_close_ = true;
    wslay_event_queue_close(ctx_, code, reinterpret_cast<const uint8_t*>(reason.data()),
                            reason.size());
    pump();
}

// ---- wslay callbacks ----

ssize_t Session::recv_callback(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int,
                               void* user_data) {
    Session* s = self_of(user_data);
    if (s->input_pos_ < s->input_.size()) {
        std::size_t n = std::min(len, s->input_.size() - s->input_pos_);
        std::memcpy(buf, s->input_.data() + s->input_pos_, n);
        s->input_pos_ += n;
        if (s->input_pos_ == s->input_.size()) {
            std::string().swap(s->input_);
            s->input_pos_ = 0;
        }
        return static_cast<ssize_t>(n);
    }
    if (s->read_budget_ == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ssize_t n = ::recv(s->socket_.get(), buf, std::min(len, s->read_budget_), 0);
    if (n > 0) {
        s->read_budget_ -= static_cast<std::size_t>(n);
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    s->eof_ = true;  // closed or reset: either way nobody reads what we would answer
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

ssize_t Session::send_callback(wslay_event_context_ptr, const uint8_t* data, size_t len, int,
                               void* user_data) {
    self_of(user_data)->wslay_out_.append(reinterpret_cast<const char*>(data), len);
    return static_cast<ssize_t>(len);
}

// A subscriber may not publish: refused at the first frame's header, before its payload is read
// (so neither its size nor its UTF-8 decides the answer).
void Session::on_frame_start(wslay_event_context_ptr,
                             const struct wslay_event_on_frame_recv_start_arg* arg,
                             void* user_data) {
    Session* s = self_of(user_data);
    if (!s->options_.accept_messages && !wslay_is_ctrl_frame(arg->opcode))
        s->close(kPolicyViolation, kPublishingNotAllowed);
}

void Session::on_message(wslay_event_context_ptr, const struct wslay_event_on_msg_recv_arg* arg,
                         void* user_data) {
    Session* s = self_of(user_data);
    switch (arg->opcode) {
        case WSLAY_PONG:
            s->awaiting_pong_ = false;
            return;
        case WSLAY_TEXT_FRAME:
        case WSLAY_BINARY_FRAME:
            if (s->closing())
                return;
            s->observer_.message_received(
                *s, arg->opcode == WSLAY_TEXT_FRAME ? Opcode::Text : Opcode::Binary,
                std::string_view(reinterpret_cast<const char*>(arg->msg), arg->msg_length));
            return;
        default:
            return;  // PING and close: wslay queued the PONG or the echo itself
    }
}

// ---- the loop's callbacks ----

void Session::on_readable(struct ev_loop*, ev_io* w, int) {
    self_of(w->data)->read_input();
}

void Session::on_writable(struct ev_loop*, ev_io* w, int) {
    self_of(w->data)->flush();
}

void Session::on_prepare(struct ev_loop* loop, ev_prepare* w, int) {
    ev_prepare_stop(loop, w);
    self_of(w->data)->flush();
}

void Session::on_ping_timer(struct ev_loop*, ev_timer* w, int) {
    Session* s = self_of(w->data);
    if (s->closing())
        return;
    if (s->awaiting_pong_) {
        // transports.md: the next PING is due and no PONG came: close 1000, no reason, and TCP.
        s->close_after_flush_ = true;
        s->close(kNormal, {});
        return;
    }
    wslay_event_msg ping{WSLAY_PING, nullptr, 0};
    wslay_event_queue_msg(s->ctx_, &ping);
    s->awaiting_pong_ = true;
    s->pump();
}

void Session::on_linger_timer(struct ev_loop*, ev_timer* w, int) {
    self_of(w->data)->finish();
}

void Session::on_report(struct ev_loop*, ev_timer* w, int) {
    Session* s = self_of(w->data);
    s->observer_.session_closed(*s);  // may destroy the session: nothing after it
}

// ---- reading and writing ----

void Session::read_input() {
    if (done_)
        return;
    read_budget_ = kReadBudget;
    if (shut_ || !wslay_event_get_read_enabled(ctx_)) {
        // The closing handshake is over for wslay; what the client still sends is dropped until
        // it closes or the linger timer ends the wait.
        char scratch[4096];
        for (;;) {
            ssize_t n = ::recv(socket_.get(), scratch, sizeof scratch, 0);
            if (n > 0)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            finish();
            return;
        }
    }
    int r = wslay_event_recv(ctx_);
    if (done_)
        return;
    if (r != 0) {
        if (!eof_) {
            fail_protocol();
            return;
        }
        // The client left; an echo of a close it sent just before goes out if the kernel takes it.
        pump();
        flush();
        finish();
        return;
    }
    pump();
    maybe_finish();
}

void Session::pump() {
    bool sent_before = wslay_event_get_close_sent(ctx_);
    wslay_event_send(ctx_);
    if (!sent_before && wslay_event_get_close_sent(ctx_)) {
        close_queued_ = true;
        if (!own_close_) {
            // wslay failed the connection (1002, 1007, 1009) or echoed the client's close.
            close_after_flush_ = true;
            // wslay closes a text frame that is not UTF-8 with 1007 and no reason;
            // transports.md gives the reason. The frame is still ours, unwritten: replace it.
            static const std::string bare = encode_close(kInvalidPayload, {});
            if (wslay_event_get_status_code_sent(ctx_) == kInvalidPayload &&
                wslay_out_.size() >= bare.size() &&
                wslay_out_.compare(wslay_out_.size() - bare.size(), bare.size(), bare) == 0) {
                wslay_out_.resize(wslay_out_.size() - bare.size());
                wslay_out_ += encode_close(kInvalidPayload, kNotUtf8);
            }
        }
        ev_timer_set(&linger_timer_, kCloseLinger, 0.);
        ev_timer_start(loop_, &linger_timer_);
    }
    if (!wslay_out_.empty()) {
        queue(std::make_shared<const std::string>(std::move(wslay_out_)));
        wslay_out_.clear();
    }
}

void Session::queue(core::SharedBytes bytes) {
    if (done_)
        return;
    output_.push(std::move(bytes));
    // Written before the loop waits again: everything queued in this loop turn then leaves in
    // one writev(). While the socket is full the write watcher waits for it instead, and what
    // piles up meanwhile counts against the bound.
    if (!ev_is_active(&write_watcher_))
        ev_prepare_start(loop_, &flush_watcher_);
    else
        cut_off_if_over_bound();
}

void Session::cut_off_if_over_bound() {
    if (output_.bytes() <= options_.max_unsent_bytes)
        return;
    LOG_INFO("websocket client %s: over %zu bytes unsent, closing", peer_.c_str(),
             options_.max_unsent_bytes);
    finish();
}

void Session::flush() {
    if (done_)
        return;
    switch (output_.write_to(socket_.get())) {
        case core::OutputQueue::Write::Drained:
            break;
        case core::OutputQueue::Write::WouldBlock:
            // The bound is checked after writing what the socket takes, so a burst that the
            // client reads in time never counts against it.
            cut_off_if_over_bound();
            if (!done_)
                ev_io_start(loop_, &write_watcher_);
            return;
        case core::OutputQueue::Write::Failed:
            finish();  // EPIPE, ECONNRESET: the client is gone
            return;
    }
    ev_io_stop(loop_, &write_watcher_);
    maybe_finish();
}

void Session::maybe_finish() {
    if (done_ || !close_queued_ || !output_.empty())
        return;
    if (wslay_event_get_close_received(ctx_)) {
        finish();  // the closing handshake is complete
    } else if (close_after_flush_ && !shut_) {
        // Failing the connection: our side ends now; reading goes on until the client closes or
        // the linger timer fires, so unread input does not turn our close into a reset.
        shut_ = true;
        ::shutdown(socket_.get(), SHUT_WR);
    }
}

void Session::fail_protocol() {
    // wslay_event_recv() failed: its context must not be used again for this connection. Its
    // own queued close (no status) is dropped for ours, unless a close went out already (the
    // client went on sending after it).
    static const core::SharedBytes protocol_error =
        std::make_shared<const std::string>(encode_close(kProtocolError, {}));
    close_after_flush_ = true;
    if (!close_queued_) {
        close_queued_ = true;
        queue(protocol_error);
        ev_timer_set(&linger_timer_, kCloseLinger, 0.);
        ev_timer_start(loop_, &linger_timer_);
    }
    maybe_finish();
}

void Session::finish() {
    if (done_)
        return;
    done_ = true;
    ev_prepare_stop(loop_, &flush_watcher_);
    ev_io_stop(loop_, &read_watcher_);
    ev_io_stop(loop_, &write_watcher_);
    ev_timer_stop(loop_, &ping_timer_);
    ev_timer_stop(loop_, &linger_timer_);
    socket_.reset();
    output_ = core::OutputQueue();
    ev_timer_set(&report_timer_, 0., 0.);
    ev_timer_start(loop_, &report_timer_);
}

}  // namespace pushrelay::ws
