// http/connection.h — the server side of one HTTP/1.1 connection, and its exchanges.
//
// A Connection reads and parses requests (llhttp, through protocol::RequestParser), routes each
// to its location, and hands it to the Handler as an Exchange. It owns everything about the wire:
// pipelining (requests answered in order, parsing paused while output piles up), keep-alive
// decisions, the output queue, the timeouts of nginx's http core, lingering close, and the access
// log line written when each exchange ends.
//
// An Exchange is one request and its answer. The handler answers in one of three ways:
//   - a whole response: respond();
//   - a stream: begin_stream() → any number of send() → end_stream(), chunked or raw;
//   - an upgrade: upgrade() writes the 101 head and hands the socket to another protocol.
// It may answer at once or later (a held long-poll, a stream): in between, the connection reads
// no further request, and if the exchange ends without the handler's doing (the client closed,
// the worker stopped) the exchange's Observer is told, once.
//
// Single-threaded: every call comes from the loop's callbacks. Owned by Connections.
#pragma once

#include <ev.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/conf.h"
#include "core/output_queue.h"
#include "core/unique_fd.h"
#include "protocol/header.h"
#include "protocol/request_parser.h"
#include "protocol/response.h"

namespace pushrelay::http {

using SharedBytes = core::SharedBytes;

class Connection;
class Connections;
class Exchange;

// What a server does with complete requests (the push semantics; the GRIP proxy next).
class Handler {
  public:
    virtual ~Handler() = default;
    // Answers `exchange` now or later; the reference is valid until the exchange ends.
    virtual void handle(Exchange& exchange) = 0;
};

// Told when an exchange the handler left open ends without the handler's doing.
class ExchangeObserver {
  public:
    virtual ~ExchangeObserver() = default;
    // The client closed or reset, a send timed out, or the worker stopped: the exchange is over
    // and must not be used again. Called at most once, and never after the handler ended it.
    virtual void exchange_aborted() = 0;
    // A stream's output was all written to the socket: a producer that paused for backpressure
    // (Exchange::unsent()) may go on. May come from inside begin_stream(): resume only (a
    // resume that delivers from the loop), never end the exchange from here.
    virtual void exchange_drained() {}
};

// How a stream's body is framed on the wire.
enum class Framing : std::uint8_t {
    Chunked,  // Transfer-Encoding: chunked (HTTP/1.1); HTTP/1.0 gets raw bytes and a close
    Raw,      // the bytes as given, no length: the connection closes at the end
    // The bytes as given, framed by the caller's own headers (a proxied Content-Length, or none
    // for a bodiless response): the connection stays usable after end_stream().
    Fixed,
};

// The output queue lives in core/ so that ws/ sessions queue frames the same way.
using OutputQueue = core::OutputQueue;

class Exchange {
  public:
    const protocol::Request& request() const;
    // The location the request was routed to, and the regex captures of that match.
    const conf::Location& location() const;
    const std::vector<std::string>& captures() const;
    const sockaddr* peer() const;
    int http_minor() const;
    struct ev_loop* loop() const;
    // Whether the response being built may keep the connection open (request, keepalive_requests,
    // the worker stopping).
    bool keeps_alive() const;

    // The whole response: `head` (status line and headers, built for keeps_alive()) then `body`,
    // either possibly shared with other exchanges. Ends the exchange.
    void respond(int status, SharedBytes head, SharedBytes body);
    // Builds the head and ends the exchange with a simple response (errors, info, OPTIONS).
    void respond(int status, const std::vector<protocol::Header>& headers, std::string body);

    // Starts a response whose body follows in pieces: the head now, with no Content-Length. A
    // client that leaves more than `max_unsent` bytes of it unread is cut off.
    void begin_stream(int status, const std::vector<protocol::Header>& headers, Framing framing,
                      size_t max_unsent);
    // As above with a head the caller built (a proxy's: the origin's status, reason phrase and
    // headers); finish() adds Server, Date and Connection. With Framing::Fixed the caller's
    // headers carry the length.
    void begin_stream(const protocol::ResponseHead& head, Framing framing, size_t max_unsent);
    // Bytes of the response queued and not yet written to the socket: a producer pauses while
    // this is large and resumes at ExchangeObserver::exchange_drained().
    size_t unsent() const;
    // Ends the exchange by closing the connection at once, without the end of the stream (no
    // terminating chunk): the client sees a cut body. The observer is not told.
    void abort();
    // One piece of a stream's body (framed as begin_stream said). A client too slow to read,
    // with more than begin_stream's `max_unsent` bytes queued, is cut off (the observer is told).
    void send(SharedBytes bytes);
    // Ends the stream (the last chunk, or the close for raw framing) and the exchange; `close`
    // (and a graceful stop) closes the connection after it even when chunked.
    void end_stream(bool close = false);

    // Hands the socket over to another protocol (WebSocket): queues `head` (a 101 response), and
    // once it is written gives `takeover` the socket, any bytes the client sent after this
    // request, and the exchange's on_end() function (empty if none), which the new owner runs
    // when it closes the socket: what the request holds (a limit_conn count) lasts as long as
    // the upgraded connection. The connection is then gone. Ends the exchange; if the client
    // leaves before the 101 is written, on_end() runs then and `takeover` never does.
    using Takeover = std::function<void(core::UniqueFd socket, std::string unread_input,
                                        std::function<void()> on_end)>;
    void upgrade(SharedBytes head, Takeover takeover);

    // Who to tell if the exchange ends without the handler's doing; nullptr: nobody.
    void set_observer(ExchangeObserver* observer);
    // Runs `done` once when the exchange ends, however it ends: answered, streamed to its end,
    // upgraded, or aborted (after the observer was told). One per exchange: what a request
    // holds while it lasts (a limit_conn count) is given back with it.
    void on_end(std::function<void()> done);

  private:
    friend class Connection;
    explicit Exchange(Connection& connection) : connection_(connection) {}
    Connection& connection_;
};

// Every connection of one worker process: ownership, the count, and what a stop needs.
class Connections {
  public:
    // `count_changed` is told the number open after every accept and close (the balancing of
    // accepts across workers reads it).
    Connections(struct ev_loop* loop, Handler& handler, std::function<void(size_t)> count_changed);
    ~Connections();
    Connections(const Connections&) = delete;
    Connections& operator=(const Connections&) = delete;

    // Takes an accepted socket (non-blocking) and starts reading it.
    void adopt(core::UniqueFd socket, const sockaddr_storage& peer, const conf::Server& server);
    size_t size() const { return open_.size(); }

    // For a graceful stop: from now on every response closes its connection, idle connections
    // close at once, and exchanges already begun may finish.
    void stop_gracefully();
    bool stopping() const { return stopping_; }
    // Closes everything now (the observers of open exchanges are told).
    void close_all();

    // For Connection: deleted after the current callback returns (a callback may close its own
    // connection).
    void retire(Connection* connection);
    // For Connection: closed from the loop after the current callbacks, so that an open
    // exchange's observer is never told in the middle of its handler's own call.
    void close_later(Connection* connection);
    // For Connection: a stream's output is written once per loop turn, just before the loop
    // waits, so that several messages handed to one subscriber in a turn go out in one writev.
    void flush_soon(Connection* connection);
    void forget_flush(Connection* connection);

    struct ev_loop* loop() const {
        return loop_;
    }
    Handler& handler() const { return handler_; }

  private:
    static void on_check(struct ev_loop* loop, ev_check* w, int revents);
    static void on_prepare(struct ev_loop* loop, ev_prepare* w, int revents);

    struct ev_loop* loop_;
    Handler& handler_;
    std::function<void(size_t)> count_changed_;
    std::vector<std::unique_ptr<Connection>> open_;  // a connection knows its index
    std::vector<std::unique_ptr<Connection>> graveyard_;
    std::vector<Connection*> closing_;   // close_later()
    std::vector<Connection*> flushing_;  // flush_soon(); a connection leaves it when it closes
    ev_check reaper_;
    ev_prepare flusher_;
    bool stopping_ = false;
};

class Connection {
  public:
    Connection(Connections& owner, core::UniqueFd socket, const sockaddr_storage& peer,
               const conf::Server& server);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();
    // Stops everything, tells an open exchange's observer, and hands the connection back to its
    // owner for deletion.
    void close();
    // For a graceful stop: closes at once when idle between two requests.
    void close_if_idle();

  private:
    friend class Exchange;
    friend class Connections;

    enum class State : uint8_t {
        Idle,        // between requests: no byte of the next one yet
        Reading,     // inside a request's headers or body
        Processing,  // the handler has the exchange (answering, held, or streaming)
        Lingering,   // response sent, write side shut, draining input before close
    };
    enum class Body : uint8_t { None, Whole, Stream };

    static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
    static void on_writable(struct ev_loop* loop, ev_io* w, int revents);
    static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);

    void read_input();
    void process_input();
    void discard_parsed_input(size_t parsed);
    void on_headers_complete();
    void on_message_complete();
    void fail(int status, std::string_view reason);
    void queue(SharedBytes bytes);
    // Writes a whole response now if nothing is queued before it; queues what is left.
    void write_or_queue(SharedBytes head, SharedBytes body);
    void log_exchange(int status);
    void end_exchange();
    void run_on_end();
    void flush();
    // flush_soon()'s turn: writes, then cuts off a stream whose client left too much unread.
    void flush_stream();
    void start_lingering_close();
    void hand_over();
    void arm_timer(conf::Millis timeout);
    void on_timeout();
    const conf::HttpSettings& http_settings() const;
    bool keeps_alive() const;
    // Copies what answering needs of the request into the connection (see request_keep_alive_).
    void note_request();

    Connections& owner_;
    core::UniqueFd socket_;
    sockaddr_storage peer_;
    const conf::Server& server_;
    size_t index_ = 0;  // in owner_.open_
    const conf::Location* location_ = nullptr;
    std::vector<std::string> captures_;
    protocol::RequestParser parser_;
    ev_io read_watcher_, write_watcher_;
    ev_timer timer_;
    Exchange exchange_{*this};
    ExchangeObserver* observer_ = nullptr;
    std::function<void()> on_end_;
    Exchange::Takeover takeover_;

    State state_ = State::Idle;
    Body body_ = Body::None;  // what the current exchange began to send
    Framing framing_ = Framing::Chunked;
    bool close_after_write_ = false;
    bool in_process_input_ = false;
    bool in_flush_callback_ = false;  // in ExchangeObserver::exchange_drained()
    bool closed_ = false;
    bool close_pending_ = false;  // listed in Connections::closing_
    bool flush_listed_ = false;   // listed in Connections::flushing_, at flush_index_
    size_t flush_index_ = 0;
    // Of the current request, copied when it completes: answering a held request then touches
    // only the connection, not the parser's memory (cold by then, with thousands held).
    bool request_keep_alive_ = false;
    bool head_request_ = false;
    uint8_t http_minor_ = 1;
    uint32_t requests_ = 0;
    int status_ = 0;              // of the current exchange's response, once begun
    uint64_t body_bytes_ = 0;     // of the current exchange, for the access log
    size_t max_unsent_ = 0;       // of the current stream
    uint64_t bytes_ = 0;          // head + body of the current exchange
    double request_started_ = 0;  // ev_now() at the request's first byte, for $request_time
    std::string input_;           // bytes read and not yet parsed
    size_t input_pos_ = 0;
    OutputQueue output_;
};

}  // namespace pushrelay::http
