// A worker process: one libev loop that accepts on the listening sockets it
// inherited from the master, parses requests, routes them to the publisher
// and subscriber handlers, holds waiting subscribers in local lists, and
// wakes on its eventfd when another worker posted to its mailbox.
//
// Runs in a forked child of the master and never returns to the master's
// code: `run` returns the exit status for _exit(). It must not include
// anything from master/.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "conf/conf.h"
#include "shm/store.h"

namespace pushrelay::worker {

// A socket the master bound; `server` points into the Config the worker runs.
struct Listener {
    int fd;
    const conf::Server* server;
    std::string name;  // "127.0.0.1:8080", for logs
};

// Everything a worker is started with. All pointers outlive the worker (they
// were created by the master before fork and are inherited).
struct Context {
    const conf::Config* config;
    std::vector<Listener> listeners;
    shm::Store* store;
    int slot;  // this worker's mailbox and subscriber-count slot
    // One eventfd per slot, created by the master: a worker that posts an
    // event into slot N's mailbox writes wake_fds[N].
    std::array<int, shm::kMaxWorkerSlots> wake_fds;
};

// Exit statuses. A worker exiting with kExitFatal is not respawned: it could
// not start at all, and respawning would only loop.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFatal = 2;

// Runs the worker until it is told to stop (TERM/INT: now; QUIT: after the
// connections it holds are answered). Returns the exit status.
int run(const Context& context);

}  // namespace pushrelay::worker
