#include "redis/link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace pushrelay::redis {
namespace {

constexpr double kFirstBackoff = 0.1;
constexpr double kMaxBackoff = 1.0;
constexpr double kJitter = 0.2;

bool is_auth_error(std::string_view code) {
    return code == "WRONGPASS" || code == "NOPERM" || code == "NOAUTH";
}

}  // namespace

std::string client_name(std::string_view role) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0)
        std::snprintf(host, sizeof host, "unknown");
    return "pushrelay:" + std::string(host) + ":" + std::to_string(getpid()) + ":" +
           std::string(role);
}

std::string numeric_host(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (address.ss_family == AF_INET)
        raw = &reinterpret_cast<const sockaddr_in&>(address).sin_addr;
    else if (address.ss_family == AF_INET6)
        raw = &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
    if (!raw || !inet_ntop(address.ss_family, raw, text, sizeof text))
        return {};
    return text;
}

int port_of(const sockaddr_storage& address) {
    if (address.ss_family == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
    if (address.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
    return 0;
}

ArgvView::ArgvView(const std::vector<std::string>& argv) {
    parts.reserve(argv.size());
    lengths.reserve(argv.size());
    for (const std::string& arg : argv) {
        parts.push_back(arg.data());
        lengths.push_back(arg.size());
    }
}

Backoff::Backoff() : base_(kFirstBackoff), jitter_(std::random_device{}()) {}

double Backoff::next() {
    std::uniform_real_distribution<double> spread(1 - kJitter, 1 + kJitter);
    const double delay = base_ * spread(jitter_);
    base_ = std::min(base_ * 2, kMaxBackoff);
    return delay;
}

void Backoff::reset() {
    base_ = kFirstBackoff;
}

bool DownReports::should_report(const Failure& failure, bool was_up) {
    if (!was_up && last_ == failure)
        return false;
    last_ = failure;
    return true;
}

std::string_view error_code(std::string_view error) {
    return error.substr(0, error.find(' '));
}

// The whole first word is compared, since BUSYKEY and BUSYGROUP are unrelated errors.
bool is_not_ready(std::string_view code) {
    return code == "LOADING" || code == "BUSY" || code == "READONLY" || code == "TRYAGAIN" ||
           code == "CLUSTERDOWN";
}

Failure::Kind failure_kind(std::string_view code) {
    if (is_not_ready(code))
        return Failure::Kind::NotReady;
    if (is_auth_error(code))
        return Failure::Kind::Auth;
    return Failure::Kind::Setup;
}

std::string seconds(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%gs", value);
    return text;
}

void init_timer(ev_timer& timer, void (*callback)(struct ev_loop*, ev_timer*, int), void* data) {
    ev_init(&timer, callback);
    timer.data = data;
}

void restart_timer(struct ev_loop* loop, ev_timer& timer, double after) {
    ev_timer_stop(loop, &timer);
    ev_timer_set(&timer, std::max(after, 0.0), 0.);
    ev_timer_start(loop, &timer);
}

}  // namespace pushrelay::redis
