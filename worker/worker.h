// worker/worker.h — a worker process: one libev loop that accepts on the listening sockets it
// inherited from the master, balances accepts with the other workers, wakes when another worker
// posted to its mailbox, runs the expiry timer, and handles the signals (TERM/INT: stop now;
// QUIT: stop gracefully; USR1: reopen the logs).
//
// What a connection does is http/'s; limit_req and limit_conn are limit/'s; what a request means
// is push/'s; where channels live is the broker's. The Worker only wires them to one loop. Runs in
// a forked child of the master and never returns to the master's code: `run` returns the exit
// status for _exit().
#pragma once

#include <ev.h>

#include <memory>
#include <optional>
#include <vector>

#include "broker/broker.h"
#include "core/worker_context.h"
#include "http/connection.h"
#include "limit/limiter.h"
#include "push/relay.h"

namespace pushrelay::worker {

class Worker {
  public:
    Worker(const core::WorkerContext& context, struct ev_loop* loop);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Starts the watchers; the caller then runs the loop.
    void start();

  private:
    static void on_accept(struct ev_loop* loop, ev_io* w, int revents);
    static void on_wake(struct ev_loop* loop, ev_io* w, int revents);
    static void on_expire_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_check(struct ev_loop* loop, ev_check* w, int revents);
    static void on_stop_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_quit_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_retire_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_reopen_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_shutdown_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_accept_pause(struct ev_loop* loop, ev_timer* w, int revents);

    void accept_from(int listen_fd, const conf::Server& server);
    bool too_busy_to_accept() const;
    size_t open_count() const;
    void publish_open_count();
    // Stops watching the listening sockets for kAcceptPause (accept_from() on a busy worker).
    void pause_accepting();
    void begin_graceful_shutdown(push::Shutdown why);
    void stop_accepting();

    core::WorkerContext context_;
    struct ev_loop* loop_;
    std::unique_ptr<broker::Broker> broker_;  // the segment's, or Redis mode's over it
    push::Relay relay_;
    limit::Limiter limiter_;  // in front of the relay; outlives the connections it serves
    http::Connections connections_;
    std::vector<ev_io> accept_watchers_;
    ev_io wake_watcher_;
    ev_timer expire_timer_;
    ev_check idle_check_;
    ev_signal term_watcher_, int_watcher_, quit_watcher_, retire_watcher_, usr1_watcher_;
    ev_timer shutdown_timer_;
    ev_timer accept_pause_;  // a busy worker's step aside (see accept_from)
    bool shutting_down_ = false;
};

// Runs the worker until it is told to stop (TERM/INT: now; QUIT: after the connections it holds
// are answered). Returns the exit status.
int run(const core::WorkerContext& context);

}  // namespace pushrelay::worker
