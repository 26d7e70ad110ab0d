#include "worker/crash.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "core/log.h"

namespace pushrelay::worker::crash {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr int kMaxFrames = 64;

// The handler's own stack: SIGSEGV from a stack overflow has no stack left to run on.
alignas(16) char alternate_stack[64 * 1024];

// The local time's offset from UTC, taken at install(): localtime_r() is not async-signal-safe.
long utc_offset_seconds = 0;

// A tiny append-only line builder over a fixed buffer; every call is async-signal-safe.
class Line {
  public:
    Line& text(const char* s) {
        while (*s != '\0' && length_ < sizeof buffer_) buffer_[length_++] = *s++;
        return *this;
    }
    Line& number(long value, int min_digits = 1) {
        char digits[24];
        int n = 0;
        const bool negative = value < 0;
        unsigned long magnitude = negative ? 0UL - static_cast<unsigned long>(value) : value;
        do {
            digits[n++] = static_cast<char>('0' + magnitude % 10);
            magnitude /= 10;
        } while (magnitude != 0 || n < min_digits);
        if (negative)
            digits[n++] = '-';
        while (n > 0 && length_ < sizeof buffer_) buffer_[length_++] = digits[--n];
        return *this;
    }
    void write_to(int fd) const { [[maybe_unused]] ssize_t w = ::write(fd, buffer_, length_); }

  private:
    char buffer_[512];
    size_t length_ = 0;
};

// "YYYY/MM/DD HH:MM:SS", as worker/log.cc writes it, from the civil-from-days algorithm
// (H. Hinnant): gmtime_r() and localtime_r() are not async-signal-safe.
void append_time(Line& line) {
    const long t = static_cast<long>(time(nullptr)) + utc_offset_seconds;
    const long days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    const long seconds = t - days * 86400;
    const long z = days + 719468;
    const long era = (z >= 0 ? z : z - 146096) / 146097;
    const long doe = z - era * 146097;
    const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const long mp = (5 * doy + 2) / 153;
    const long day = doy - (153 * mp + 2) / 5 + 1;
    const long month = mp < 10 ? mp + 3 : mp - 9;
    const long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    line.number(year).text("/").number(month, 2).text("/").number(day, 2).text(" ");
    line.number(seconds / 3600, 2).text(":").number(seconds / 60 % 60, 2).text(":");
    line.number(seconds % 60, 2);
}

void on_fatal_signal(int signo) {
    const int fd = log::fd();
    const long pid = static_cast<long>(getpid());
    Line line;
    append_time(line);
    line.text(" [alert] ").number(pid).text(": ");
    line.text("worker process ").number(pid).text(" exited on signal ").number(signo);
    line.text(" (").text(sigabbrev_np(signo) ? sigabbrev_np(signo) : "?").text("), backtrace:\n");
    line.write_to(fd);
    void* frames[kMaxFrames];
    backtrace_symbols_fd(frames, backtrace(frames, kMaxFrames), fd);
    // SA_RESETHAND restored the default action: the signal, pending until this returns, ends the
    // process with the same status a handler-less worker would have had.
    raise(signo);
}

}  // namespace

const char* install() {
    // backtrace() loads libgcc on its first call, which allocates: done here, not in the handler.
    void* frame;
    backtrace(&frame, 1);
    const time_t now = time(nullptr);
    struct tm local;
    if (localtime_r(&now, &local) != nullptr)
        utc_offset_seconds = local.tm_gmtoff;

    stack_t stack{};
    stack.ss_sp = alternate_stack;
    stack.ss_size = sizeof alternate_stack;
    if (sigaltstack(&stack, nullptr) < 0)
        return "sigaltstack() failed";
    struct sigaction action {};
    action.sa_handler = on_fatal_signal;
    action.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (int signo : kFatalSignals) {
        if (sigaction(signo, &action, nullptr) < 0)
            return "sigaction() failed";
    }
    return "";
}

}  // namespace pushrelay::worker::crash
