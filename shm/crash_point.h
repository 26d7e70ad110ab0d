// A test hook marking the points between two shared writes at which a process may be killed while
// it holds the store's lock. Internal to shm/.
//
// In production the hook is null and a crash point costs one load and a predictable branch.
// tests/shm/crash_test.cc sets it in a fork()ed child to SIGKILL itself at the Nth point, then
// checks in the parent that repair() (shm/repair.h) leaves a consistent store.
//
// Points sit only between steps that repair() handles; none sits inside an allocator call or
// between naming a block in the intent and the step it covers, the windows doc/shm-layout.md
// lists as unprotected.
#pragma once

namespace pushrelay::shm {

using CrashHook = void (*)();

// Set only by tests, before the store is used in that process.
extern CrashHook crash_hook;

inline void crash_point() noexcept {
    if (crash_hook != nullptr) [[unlikely]] {
        crash_hook();
    }
}

}  // namespace pushrelay::shm
