// The master process: reads and checks the conf, creates the shared segment,
// binds the listening sockets, forks the workers and supervises them.
//
// Its signal handlers only set flags; the loop in `Master::run` acts on them
// after sigsuspend() returns, as nginx's master does. The master never
// serves a request and never holds a connection.
#pragma once

#include "core/worker_context.h"

namespace pushrelay::master {

// The entry points of the processes the master forks (main.cc wires them).
struct Children {
    core::WorkerMain worker;
    core::RelayMain relay;  // forked in Redis mode only
    core::RelayGoneNotice relay_gone;
};

// The whole program: options, -t, -s, then the master loop, which forks the workers (and in Redis
// mode the relay). Returns the exit status of the process.
int main(int argc, char** argv, Children children);

}  // namespace pushrelay::master
