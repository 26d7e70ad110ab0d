// The state of one worker process, shared by its connections and handlers:
// the libev loop, the connections it owns, its local waiting lists, and the
// means to reach other workers (the store's mailboxes and their eventfds).
//
// Internal to worker/: the master sees only worker.h. Single-threaded: every
// member is touched from the loop's callbacks only.
#pragma once

#include <ev.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "shm/store.h"
#include "worker/worker.h"

namespace pushrelay::worker {

class Connection;

// The subscribers this worker holds on one channel, oldest first.
struct ChannelWaiters {
    std::string key;
    std::list<Connection*> connections;
};

class Worker {
  public:
    Worker(const Context& context, struct ev_loop* loop);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Starts the watchers; the caller then runs the loop.
    void start();

    struct ev_loop* loop() const {
        return loop_;
    }
    const conf::Config& config() const { return *context_.config; }
    shm::Store& store() const { return *context_.store; }
    int slot() const { return context_.slot; }
    bool shutting_down() const { return shutting_down_; }
    // Wall-clock milliseconds of the current loop iteration (message times are wall clock).
    int64_t now_ms() const { return static_cast<int64_t>(ev_now(loop_) * 1000); }

    // Writes the eventfd of every slot in `mask` (after events were posted there).
    void wake(uint64_t slot_mask) const;

    // Local waiting lists. `hold` registers a held subscriber and returns the
    // position to pass to `unhold`; the connection must call `unhold` before
    // it is answered or destroyed.
    std::list<Connection*>::iterator hold(uint64_t uid, const std::string& key, Connection* c);
    void unhold(uint64_t uid, std::list<Connection*>::iterator position);

    // Connection ownership: `adopt` on accept; `retire` when closed, deleted
    // after the current callback returns (a callback may retire its own connection).
    void adopt(std::unique_ptr<Connection> connection);
    void retire(Connection* connection);

  private:
    static void on_accept(struct ev_loop* loop, ev_io* w, int revents);
    static void on_wake(struct ev_loop* loop, ev_io* w, int revents);
    static void on_expire_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_check(struct ev_loop* loop, ev_check* w, int revents);
    static void on_stop_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_quit_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_reopen_signal(struct ev_loop* loop, ev_signal* w, int revents);
    static void on_shutdown_timer(struct ev_loop* loop, ev_timer* w, int revents);

    void accept_from(int listen_fd, const conf::Server* server);
    bool too_busy_to_accept() const;
    template <typename Answer>
    uint32_t answer_waiters(uint64_t uid, Answer answer);
    void drain_mailbox();
    void deliver(const shm::Store::Event& event);
    void resync_all();
    bool resync(Connection& connection, const std::string& key, uint64_t uid);
    void begin_graceful_shutdown();
    void stop_accepting();
    void finish_if_idle();

    Context context_;
    struct ev_loop* loop_;
    std::vector<ev_io> accept_watchers_;
    ev_io wake_watcher_;
    ev_timer expire_timer_;
    ev_check reaper_;
    ev_signal term_watcher_, int_watcher_, quit_watcher_, usr1_watcher_;
    ev_timer shutdown_timer_;
    bool shutting_down_ = false;

    std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
    std::vector<std::unique_ptr<Connection>> graveyard_;
    std::unordered_map<uint64_t, ChannelWaiters> waiters_;
    uint64_t walking_ = 0;                   // the channel answer_waiters() is walking; 0: none
    std::vector<shm::Store::Event> events_;  // reused by drain_mailbox
};

}  // namespace pushrelay::worker
