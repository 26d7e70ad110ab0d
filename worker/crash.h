// The worker's last words: a handler for the fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
// SIGABRT) that writes "worker process PID exited on signal N" and a backtrace to the error log,
// then dies of the same signal, so that the master sees it (and replaces the worker) as before.
//
// Worker processes only, installed once at the start of worker::run(). The handler uses only
// async-signal-safe calls (write(2), raise(3)) plus backtrace(3), whose library is loaded by
// install() so that the handler never allocates. It runs on its own stack, so a stack overflow
// is reported too. It touches no shared state: the shared segment is repaired by whoever locks it
// next (shm/repair.h).
#pragma once

namespace pushrelay::worker::crash {

// Installs the handler for every fatal signal above. Returns an error text naming the failing
// call, or "" on success.
const char* install();

}  // namespace pushrelay::worker::crash
