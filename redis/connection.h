// redis/connection.h — one command connection to one Redis server, on a process's libev loop
// (shared/scale-out.md "Processes and connections", "AUTH and ACL", "Notification path and
// resync").
//
// Owns a hiredis 0.14 redisAsyncContext (adapters/libev.h) and the timers hiredis 0.14 lacks: the
// connect timeout (TCP connect and the whole setup), the command timeout (every reply), the idle
// PING and the reconnect backoff. Callers see replies as owned values (Value) and never touch a
// hiredis type. Runs in whichever process owns the loop (a worker, the relay), single-threaded.
// It resolves nothing (hiredis 0.14 would block the loop): the caller passes an address resolved
// at conf load. It does no Cluster routing and no pubsub: the relay reads its subscription with
// its own reader (scale-out.md says why).
//
// Life of a connection:
//   down --attempt--> connecting --setup replied--> up --lost/timeout--> down --backoff--> ...
//   - The first attempt starts from the loop, never inside the constructor.
//   - Setup is pipelined: AUTH (with a password), SELECT (db != 0), CLIENT SETNAME (its failure
//     ignored), INFO server (Redis < 6.2 is refused), INFO cluster, SCRIPT LOAD of every script.
//     All of it, TCP connect included, must reply within connect_timeout.
//   - Up, every reply must come within command_timeout of its command being sent; a PING goes
//     out after command_timeout/2 with nothing in flight, so a dead peer is found while idle.
//   - Whatever ends an attempt or an up connection (refused, reset, closed, timeout, WRONGPASS,
//     NOPERM, LOADING at setup, old version), the next attempt comes after the backoff: 100 ms
//     doubling to 1 s, ±20 % jitter, back to 100 ms once up. Never sooner, never later.
//
// The process must ignore SIGPIPE (hiredis writes with write(2)); master and workers do.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis_figures.h"
#include "redis/link.h"
#include "redis/value.h"

struct redisAsyncContext;

namespace pushrelay::redis {

// How a command ended. Only Ok carries a usable value.
enum class Outcome : std::uint8_t {
    Ok,          // Redis answered, not with an error
    ErrorReply,  // Redis answered with an error (value.string: "ERR ...", "NOPERM ...", "OOM ...")
    // An error reply meaning "not ready": LOADING, BUSY, READONLY, TRYAGAIN, CLUSTERDOWN.
    // Never fatal: back off and retry.
    NotReady,
    Timeout,      // sent, and no reply within command_timeout: the command may have run
    Lost,         // sent, and the connection broke before the reply: the command may have run
    Unavailable,  // never sent: the connection was not up within command_timeout of the call
};

struct Reply {
    Outcome outcome = Outcome::Ok;
    Value value;        // Ok: the reply; ErrorReply and NotReady: the Error value
    std::string error;  // anything but Ok: one line for a log or a 503 body
};

// Told of every change of state, once per change: on_up when setup completes; on_down when an up
// connection goes down, or when an attempt fails for another reason than the one last reported
// (a Redis that stays unreachable is reported once, not at every retry). Neither may destroy the
// Connection; both may issue commands.
class Observer {
  public:
    virtual ~Observer() = default;
    virtual void on_up() = 0;
    virtual void on_down(const Failure& failure) = 0;
};

// A command connection. Not thread-safe: used from its loop only. Callbacks are never called from
// inside command(), evalsha() or the constructor, and must not destroy the Connection.
class Connection {
  public:
    // Each command's callback is called exactly once, from the loop, unless the Connection is
    // destroyed first.
    using Callback = std::function<void(Reply&&)>;

    struct Counters {
        std::uint64_t attempts = 0;  // connections tried
        std::uint64_t connects = 0;  // connections that completed setup
        std::uint64_t commands = 0;  // callers' commands sent (an EVALSHA retried counts twice)
        std::uint64_t errors = 0;    // callers' commands that ended other than Ok
    };

    // `loop` and `observer` must outlive the Connection. The first attempt starts from the loop.
    Connection(struct ev_loop* loop, Settings settings, Observer& observer);
    // Closes the connection. Callbacks of commands not yet answered are dropped without a call.
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Sends `argv` (binary-safe, argv[0] the command name) now if up, else when up; a command not
    // sent within command_timeout of this call ends Unavailable.
    void command(std::vector<std::string> argv, Callback callback);

    // EVALSHA of Settings::scripts[script] (an index; precondition: in range). On NOSCRIPT (Redis
    // lost its script cache: SCRIPT FLUSH, a restart), the script is loaded again and the EVALSHA
    // sent once more; the caller sees only the second reply.
    void evalsha(std::size_t script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args, Callback callback);

    bool up() const { return state_ == State::Up; }
    // From the last setup's INFO: cluster_enabled:1, and redis_version. Meaningful once up.
    bool cluster_enabled() const { return cluster_enabled_; }
    const std::string& server_version() const { return server_version_; }
    const Counters& counters() const { return counters_; }
    // Callers' commands whose callback is still to come (waiting or in flight): destroying the
    // Connection now would drop them uncalled.
    std::size_t pending() const;

  private:
    enum class State : std::uint8_t { Down, Connecting, Up };

    // A caller's command, from command()/evalsha() until its callback.
    struct Request {
        std::vector<std::string> argv;  // for an EVALSHA, argv[1] is set when sent
        Callback callback;
        std::optional<std::size_t> script;
        bool retried = false;
        ev_tstamp queued_at = 0;
    };
    // Something written to Redis whose reply is awaited: a caller's Request, or one of the
    // connection's own commands (setup, PING, a script reload) answered to `internal`.
    struct Sent {
        ev_tstamp sent_at = 0;
        std::unique_ptr<Request> request;
        std::function<void(Value&&)> internal;
    };

    void attempt();
    void start_setup();
    void send_setup_command(std::vector<std::string> argv, std::string_view name,
                            std::function<void(Value&&)> on_ok);
    void setup_reply(std::string_view name, Value&& value,
                     const std::function<void(Value&&)>& on_ok);
    void check_version(const Value& info);
    void become_up();

    void submit(std::unique_ptr<Request> request);
    void send(std::unique_ptr<Request> request);
    void send_internal(std::vector<std::string> argv, std::function<void(Value&&)> on_reply);
    bool write(const std::vector<std::string>& argv);
    void on_value(Value&& value);
    void finish(std::unique_ptr<Request> request, Value&& value);
    void complete(Request& request, Reply&& reply);

    // Ends the current attempt or connection. `hiredis_frees`: hiredis is already freeing the
    // context (a disconnect it saw), so it must not be freed again.
    void drop(Failure failure, Outcome in_flight_outcome, bool hiredis_frees);
    void release_context(bool hiredis_frees);
    void fail_in_flight(Outcome outcome, const std::string& error);
    void report_down(const Failure& failure, bool was_up);
    void schedule_attempt();

    void arm_reply_timer();
    void arm_wait_timer();
    void expire_waiting();

    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    static void on_reply_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_idle_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_retry_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_wait_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_broken_timer(struct ev_loop* loop, ev_timer* w, int revents);

    struct ev_loop* loop_;
    const Settings settings_;
    const std::string host_;  // numeric_host(settings_.address)
    const int port_;
    Observer& observer_;

    State state_ = State::Down;
    redisAsyncContext* ac_ = nullptr;  // null while down; owned (freed by release_context)
    std::deque<Sent> in_flight_;       // in the order sent, which is the order Redis replies
    std::deque<std::unique_ptr<Request>> waiting_;  // while not up, in the order called
    std::vector<std::string> script_shas_;          // from this connection's SCRIPT LOADs
    std::size_t setup_pending_ = 0;                 // setup replies still awaited
    bool cluster_enabled_ = false;
    std::string server_version_;

    Backoff backoff_;
    DownReports down_reports_;   // since the last on_up; see Observer
    std::string down_reason_;    // for Unavailable errors
    std::string broken_reason_;  // for on_broken_timer
    Counters counters_;

    ev_timer reply_timer_;   // connecting: connect_timeout; up: the oldest reply's deadline
    ev_timer idle_timer_;    // up with nothing in flight: the next PING
    ev_timer retry_timer_;   // down: the next attempt
    ev_timer wait_timer_;    // the oldest waiting Request's deadline
    ev_timer broken_timer_;  // a zero delay: a write hiredis refused, dropped from the loop
};

// Hands what a connection's counters grew by since the last call to the node's figures, which
// every process adds its own to (core/redis_figures.h: sums, not per-process values).
class CounterDeltas {
  public:
    using Add = std::function<void(core::RedisCounter, std::uint64_t)>;
    void report(const Connection::Counters& now, const Add& add);

  private:
    Connection::Counters reported_{};
};

}  // namespace pushrelay::redis
