#include "shm/lock.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pushrelay::shm {
namespace {

[[noreturn]] void die(const char* call, int error) noexcept {
    std::fprintf(stderr, "pushrelay: shm: %s failed: %s\n", call, std::strerror(error));
    std::abort();
}

}  // namespace

int RobustMutex::init() noexcept {
    pthread_mutexattr_t attr;
    int error = pthread_mutexattr_init(&attr);
    if (error != 0) {
        return error;
    }
    error = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (error == 0) {
        error = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (error == 0) {
        error = pthread_mutex_init(&mutex_, &attr);
    }
    pthread_mutexattr_destroy(&attr);
    recoveries_ = 0;
    return error;
}

bool RobustMutex::lock() noexcept {
    const int error = pthread_mutex_lock(&mutex_);
    if (error == 0) {
        return false;
    }
    if (error != EOWNERDEAD) {
        die("pthread_mutex_lock()", error);
    }
    // The owner died holding the lock. Without this call the next unlock would make the mutex
    // unusable (ENOTRECOVERABLE) and every process would stop.
    const int consistent = pthread_mutex_consistent(&mutex_);
    if (consistent != 0) {
        die("pthread_mutex_consistent()", consistent);
    }
    ++recoveries_;
    return true;
}

void RobustMutex::unlock() noexcept {
    const int error = pthread_mutex_unlock(&mutex_);
    if (error != 0) {
        die("pthread_mutex_unlock()", error);
    }
}

}  // namespace pushrelay::shm
