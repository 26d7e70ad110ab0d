// upstream/client.h — the non-blocking HTTP/1.1 client toward one origin, on a worker's loop.
//
// Owns the worker's connections to an origin: connecting (with a timeout), writing requests,
// reading responses (upstream::ResponseParser, llhttp) with a read timeout, and a keep-alive pool
// of idle connections. Runs in a worker process, single-threaded, inside its libev loop. It knows
// nothing of GRIP, the conf or the server side: callers pass plain Settings and an Origin
// (resolved at conf load, upstream/origin.h), and write the request's headers themselves.
//
// Use:
//   upstream::Pool pool(loop, origin, settings);            // one per origin per worker
//   std::unique_ptr<upstream::Call> call = pool.start(std::move(request), observer);
//   // observer: on_head once, on_body zero or more times, then exactly one of on_end/on_error
//   //           (on_error may also come before any on_head).
//   call->pause(); call->resume();                           // backpressure on the body
//   call.reset();                                            // abandon: the connection closes
//
// What the client decides on its own:
//   - Framing: it writes "Content-Length" (for a non-empty body, or an empty one on a method that
//     carries a body) and nothing else; the caller's headers go out verbatim, in order.
//   - Reuse: a connection returns to the pool only after a complete response that allows it
//     (HTTP/1.1 without "Connection: close", HTTP/1.0 with keep-alive, not close-delimited), a
//     request without "Connection: close", the whole request written, and no stray bytes after
//     the response. Otherwise it is closed.
//   - Retry: a request on a reused connection that fails before any response byte (reset, EOF:
//     the origin closed an idle connection as we reused it) is sent once more on a new
//     connection. Never after a byte of response, never after a timeout, never twice.
//   - Interim 1xx responses (100-continue included) are read and dropped; so are the trailers
//     of a chunked body. A 101 is a malformed response: the client never asks for an upgrade.
//   - A timeout of 0 means none (libev's repeat 0).
//
// Error reasons given to on_error: "connection refused", "origin unreachable" (+ errno text),
// "connect timeout", "read timeout", "write timeout", "connection reset", "malformed response:
// ...", "truncated response", "origin closed the connection without a response", or the failing
// call with its errno text ("socket() failed: Too many open files").
#pragma once

#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.h"
#include "protocol/header.h"
#include "upstream/origin.h"
#include "upstream/response_parser.h"

namespace pushrelay::upstream {

// The pool's timeouts and sizes: push_grip_connect_timeout, push_grip_read_timeout,
// push_grip_keepalive, push_grip_keepalive_timeout (grip.md's Conf table), plus limits of ours.
struct Settings {
    double connect_timeout = 5;      // seconds, connect() until established
    double read_timeout = 60;        // seconds waiting for the header, or between two reads;
                                     // also between two writes of the request
    size_t keepalive = 32;           // idle connections kept; 0 = no keep-alive
    double keepalive_timeout = 60;   // seconds an idle connection stays open
    size_t read_buffer = 64 * 1024;  // bytes read at once: the most a call holds while paused
    ResponseParser::Limits limits;
};

// One request toward the origin. `target` is the request-target (path and query) as it goes on
// the request line. `headers` go out verbatim and must include Host; a Content-Length or
// Transfer-Encoding among them is dropped (the client frames the body itself, so the two can
// never disagree).
struct Request {
    std::string method = "GET";
    std::string target = "/";
    std::vector<protocol::Header> headers;
    std::string body;
};

// Told what happens to a Call. Every method may destroy the Call (reset its unique_ptr), and
// on_head / on_body may pause() it; no method may destroy the Pool.
class Observer {
  public:
    virtual ~Observer() = default;
    // The final response head (status, reason verbatim, headers verbatim; head.chunked says the
    // body came chunked and is given de-chunked). Called once, before any on_body.
    virtual void on_head(const ResponseHead& head) = 0;
    // A piece of the body, as it arrives. The view is valid only during the call.
    virtual void on_body(std::string_view bytes) = 0;
    // The response is complete. Last call.
    virtual void on_end() = 0;
    // The request failed; `reason` is one of the texts above (valid during the call). Last call.
    virtual void on_error(std::string_view reason) = 0;
};

class Pool;

// An origin connection's socket and the one libev watcher it is known by, kept together while
// the connection is idle in the pool and while it carries calls: a watcher set afresh on a socket
// libev already watches costs an epoll_ctl that fails (EEXIST), two per reused request.
struct Socket {
    explicit Socket(int fd_in);
    core::UniqueFd fd;
    ev_io io;
};

// One request in flight, owned by the caller. Destroying it abandons the request at any point:
// watchers stop, and the connection is closed (or, if the response was complete, already back
// in the pool). Never calls its Observer from inside start(), pause(), resume() or its destructor.
class Call {
  public:
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    // Stops reading from the origin (and its read timeout) until resume(): a slow client slows
    // the origin. At most Settings::read_buffer bytes already read stay held; after pause()
    // returns nothing (no on_head, on_body or on_end) comes until resume(). The request itself is
    // still written, under the read timeout.
    void pause();
    // Reads again; bytes held while paused are delivered from the loop, not from inside resume().
    void resume();

    // Bytes read from the origin and not yet given to the observer (bounded by read_buffer).
    size_t buffered_bytes() const { return end_ - pos_; }
    // Whether this call ran on a connection taken from the pool, and whether it was retried.
    bool reused_connection() const { return reused_; }
    bool retried() const { return retried_; }

  private:
    friend class Pool;
    enum class State { Connecting, Active, Done };

    Call(Pool& pool, Request request, Observer& observer);
    void begin();
    void open_connection();
    void on_connected();
    void start_exchange();
    size_t request_size() const;
    // Writes what the socket takes; false when the call failed or restarted on a new connection.
    bool write_some();
    void read_some();
    void process();
    // Hands one parser step to the observer; false when the call ended or was destroyed.
    bool deliver(const ResponseParser::Step& step);
    void complete();
    void fail(std::string reason);
    void fail_soon(std::string reason);
    // A failure of the connection before any response byte: retried when allowed.
    void connection_failed(std::string reason);
    // The socket's watcher now calls this Call.
    void adopt_socket();
    void stop_watchers();
    void arm_timeout(double seconds);
    void update_watchers();

    static void on_io(struct ev_loop* loop, ev_io* w, int revents);
    static void on_timeout(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_soon(struct ev_loop* loop, ev_timer* w, int revents);

    Pool& pool_;
    Observer& observer_;
    Request request_;
    // The request line and headers, written before request_.body; built from request_, so
    // declared after it.
    std::string request_head_;
    size_t written_ = 0;              // bytes of head + body written on this connection
    std::unique_ptr<Socket> socket_;  // null before connecting and once done
    State state_ = State::Connecting;
    bool reused_ = false;
    bool retried_ = false;
    bool request_close_ = false;  // the caller's request says "Connection: close"
    bool paused_ = false;
    bool starting_ = false;  // inside Pool::start(): failures are reported from the loop
    bool head_delivered_ = false;
    std::unique_ptr<ResponseParser> parser_;
    std::unique_ptr<char[]> buffer_;
    size_t pos_ = 0;  // buffer_[pos_, end_) read and not yet parsed
    size_t end_ = 0;
    std::string pending_error_;       // for fail_soon()
    bool* destroyed_flag_ = nullptr;  // set while calling the observer; see deliver()
    ev_timer timeout_;
    ev_timer soon_;  // a zero-delay timer: work that must not run inside the caller's call
};

// The connections of one worker to one origin. Must outlive every Call it started; destroying
// it closes the idle connections. Not thread-safe: one per worker, used from its loop.
class Pool {
  public:
    // `loop` must outlive the pool.
    Pool(struct ev_loop* loop, const Origin& origin, const Settings& settings);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Starts `request` on an idle connection (the most recently used) or a new one. The observer
    // must outlive the returned Call (or be told on_end/on_error first). Failures, even
    // immediate ones, reach the observer from the loop, never from inside start().
    std::unique_ptr<Call> start(Request request, Observer& observer);

    size_t idle_connections() const { return idle_.size(); }
    // Connections opened since the pool was made (a figure for tests and the status page).
    uint64_t connections_opened() const { return opened_; }
    const Settings& settings() const { return settings_; }
    const Origin& origin() const { return origin_; }

  private:
    friend class Call;
    // An idle connection: watched for the origin closing it, and for the keep-alive timeout.
    struct Idle {
        Pool* pool;
        std::unique_ptr<Socket> socket;
        ev_timer timer;
    };

    std::unique_ptr<Socket> take_idle();
    void put_idle(std::unique_ptr<Socket> socket);
    // A read buffer of settings_.read_buffer bytes, uninitialised: a spare one when there is one.
    // Allocating (and zeroing) 64 KiB per request was a fifth of a proxied GET's CPU.
    std::unique_ptr<char[]> take_buffer();
    void give_buffer(std::unique_ptr<char[]> buffer);
    void drop_idle(Idle* idle);
    static void on_idle_event(struct ev_loop* loop, ev_io* w, int revents);
    static void on_idle_timeout(struct ev_loop* loop, ev_timer* w, int revents);

    struct ev_loop* loop_;
    Origin origin_;
    Settings settings_;
    uint64_t opened_ = 0;
    // Oldest first. A vector: at most `keepalive` (32) entries, so O(n) removal is fine.
    std::vector<std::unique_ptr<Idle>> idle_;
    // Buffers of finished calls, at most kSpareBuffers.
    std::vector<std::unique_ptr<char[]>> spare_buffers_;
};

}  // namespace pushrelay::upstream
