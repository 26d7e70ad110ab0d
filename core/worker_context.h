// core/worker_context.h — what the master hands each worker process it forks.
//
// The master binds the listening sockets, creates the shared segment and the wake-up eventfds,
// then forks; the child runs the worker entry point it was given (main.cc wires worker::run), so
// the master never includes worker/. Everything pointed to was created before fork() and is
// inherited: it outlives the worker.
#pragma once

#include <array>
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

namespace pushrelay::conf {
struct Config;
struct Server;
}  // namespace pushrelay::conf
namespace pushrelay::shm {
class Store;
}  // namespace pushrelay::shm
namespace pushrelay::limit {
class ZoneSet;
}  // namespace pushrelay::limit

namespace pushrelay::core {

// Worker slots (and so worker processes at once, reload overlap included): slot masks are one
// 64-bit word.
inline constexpr int kMaxWorkerSlots = 64;

// What a reload sends the workers it replaces: a graceful stop (as SIGQUIT) whose streams are
// told the service restarts (WebSocket 1012) rather than goes away (1001), since their clients
// will find a fresh worker at once. SIGWINCH, as nginx retires old workers with: its default
// action is to ignore it, so the master keeps it blocked across fork() and a worker receives it
// only once its loop watches it (the worker unblocks it then).
inline constexpr int kRetireSignal = SIGWINCH;

// A socket the master bound; `server` points into the Config the worker runs.
struct Listener {
    int fd;
    const conf::Server* server;
    std::string name;  // "127.0.0.1:8080", for logs
};

struct WorkerContext {
    const conf::Config* config;
    std::vector<Listener> listeners;
    shm::Store* store;
    // The limit_conn and limit_req zones of `config` (limit/zone_set.h), mapped before fork.
    const limit::ZoneSet* limit_zones;
    int slot;  // this worker's mailbox and subscriber-count slot
    // One eventfd per slot: a worker that posts an event into slot N's mailbox writes wake_fds[N].
    std::array<int, kMaxWorkerSlots> wake_fds;
    // Redis mode (config->redis.enabled()): this node's id, and the relay's datagram socket that
    // asks for a channel are written to (-1 otherwise).
    std::uint64_t node_id = 0;
    int relay_fd = -1;
};

// What the master hands the Redis relay process (relay/relay.h), forked in Redis mode only.
struct RelayContext {
    const conf::Config* config;
    shm::Store* store;
    std::array<int, kMaxWorkerSlots> wake_fds;  // the relay posts events to every slot
    std::uint64_t node_id;
    int ask_fd;  // the datagram socket workers' asks arrive on (read end)
};
using RelayMain = int (*)(const RelayContext& context);
// Tells the relays reading the socket whose write end is `write_fd` that a relay exited (the
// master calls it when it reaps one): the channels that relay alone fed must be taken on.
using RelayGoneNotice = void (*)(int write_fd);

// The worker entry point: runs until told to stop and returns the exit status for _exit().
using WorkerMain = int (*)(const WorkerContext& context);

// Exit statuses. A worker exiting with kExitFatal is not respawned: it could not start at all,
// and respawning would only loop.
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitFatal = 2;

}  // namespace pushrelay::core
