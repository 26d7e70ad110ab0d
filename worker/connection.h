// One client connection: reads and parses requests (pipelined ones in order),
// routes each to its location, runs the handler, and writes responses from a
// queue of shared buffers. A long-poll subscriber's request is "held": the
// connection sits in its worker's waiting list until a delivery, a deletion,
// a conflict, a timeout or the client's close ends it.
//
// Internal to worker/. Owned by the Worker (see Worker::adopt/retire).
#pragma once

#include <ev.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/conf.h"
#include "core/message_id.h"
#include "protocol/request_parser.h"
#include "shm/store.h"

namespace pushrelay::worker {

class Worker;
class Connection;

using SharedBytes = std::shared_ptr<const std::string>;

// Where a held subscriber waits, and from which message on.
struct Hold {
    uint64_t uid;
    std::string key;
    uint64_t seq;                               // registration order, for concurrency `last`
    core::MessageId since;                      // deliver only messages after this
    std::list<Connection*>::iterator position;  // in the worker's waiting list
};

class Connection {
  public:
    Connection(Worker& worker, int fd, const sockaddr_storage& peer, const conf::Server& server);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();

    // The request being answered; valid from its MessageComplete until its response is queued.
    const protocol::Request& request() const { return parser_.request(); }
    // The location the current request was routed to.
    const conf::Location& location() const { return *location_; }
    const std::vector<std::string>& captures() const { return captures_; }
    const sockaddr* peer() const { return reinterpret_cast<const sockaddr*>(&peer_); }
    int http_minor() const { return parser_.request().http_minor; }
    // Whether the response being built may keep the connection open.
    bool keeps_alive() const;

    // Queues the whole response to the current request: `head` (status line
    // and headers, built for keeps_alive()) then `body`. Both may be shared
    // with other connections. Afterwards the next pipelined request runs, or
    // the connection closes.
    void respond(int status, SharedBytes head, SharedBytes body);
    // Builds and queues a simple response (errors, channel info, OPTIONS).
    void respond(int status, const std::vector<protocol::Header>& headers, std::string body);

    // Makes the current request a held subscriber, arming push_subscriber_timeout.
    void hold(Hold hold);
    const std::optional<Hold>& held() const { return hold_; }
    // Leaves the waiting list (the caller accounts for the store's counts).
    void unhold();
    // Leaves the waiting list and releases the subscriber's count in the store.
    void release_hold();

    // Stops everything and hands the connection back to the worker for deletion.
    void close();
    // For a graceful stop: closes at once when idle between two requests.
    void close_if_idle();

  private:
    enum class State : uint8_t {
        Idle,        // between requests: no byte of the next one yet
        Reading,     // inside a request's headers or body
        Processing,  // a handler runs or the request is held
        Lingering,   // response sent, write side shut, draining input before close
    };

    static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
    static void on_writable(struct ev_loop* loop, ev_io* w, int revents);
    static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);

    void read_input();
    void process_input();
    void discard_parsed_input(size_t parsed);
    void on_headers_complete();
    void on_message_complete();
    void fail(int status, std::string_view reason);
    void finish_response();
    void flush();
    void start_lingering_close();
    void arm_timer(conf::Millis timeout);
    void on_timeout();
    void client_gone();
    const conf::HttpSettings& http_settings() const;

    Worker& worker_;
    int fd_;
    sockaddr_storage peer_;
    const conf::Server& server_;
    const conf::Location* location_ = nullptr;
    std::vector<std::string> captures_;
    protocol::RequestParser parser_;
    ev_io read_watcher_, write_watcher_;
    ev_timer timer_;

    State state_ = State::Idle;
    bool close_after_write_ = false;
    bool in_process_input_ = false;
    bool closed_ = false;
    uint32_t requests_ = 0;
    double request_started_ = 0;  // ev_now() at the request's first byte, for $request_time
    std::string input_;           // bytes read and not yet parsed
    size_t input_pos_ = 0;

    // Buffers waiting to be written, oldest first. A vector with a head index
    // rather than a deque: an empty deque still allocates its first block, and
    // ten thousand held subscribers would each carry one.
    class OutputQueue {
      public:
        void push(SharedBytes bytes);
        bool empty() const { return head_ == chunks_.size(); }
        size_t bytes() const { return bytes_; }
        // Fills at most `max` iovecs from the oldest chunk on; returns how many.
        int gather(struct iovec* iov, int max) const;
        // Forgets `n` written bytes from the front.
        void consume(size_t n);

      private:
        struct Chunk {
            SharedBytes bytes;
            size_t offset;
        };
        std::vector<Chunk> chunks_;
        size_t head_ = 0;
        size_t bytes_ = 0;
    };
    OutputQueue output_;

    std::optional<Hold> hold_;
};

}  // namespace pushrelay::worker
