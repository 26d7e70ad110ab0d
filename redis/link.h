// redis/link.h — what every connection of pushrelay to one Redis server shares, whichever class
// drives it (redis/connection.h's command Connection, redis/subscription.h's Subscription): the
// settings they are built from, how an attempt or an up connection fails, the reconnect backoff
// and the "report a failure once" rule (shared/scale-out.md "Notification path and resync",
// "AUTH and ACL"), and the helpers both use for their libev timers and Redis error replies.
//
// Runs in whichever process owns the loop (a worker, the relay), single-threaded. Holds no socket
// and knows no hiredis type.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace pushrelay::redis {

// Why an attempt failed or an up connection went down.
struct Failure {
    enum class Kind : std::uint8_t {
        Io,        // refused, reset, closed by the server, a protocol error, or hiredis's own error
        Timeout,   // setup not done within connect_timeout, or a reply later than command_timeout
        NotReady,  // a setup command got LOADING, BUSY, ...: Redis is starting
        Auth,      // WRONGPASS, NOPERM or NOAUTH on a connection's own command (log at error)
        Version,   // Redis older than 6.2 (log at error)
        Setup,     // any other error reply to a connection's own command
    };
    Kind kind = Kind::Io;
    std::string reason;  // names the failing command or call, e.g. "AUTH failed: WRONGPASS ..."

    bool operator==(const Failure&) const = default;
};

struct Settings {
    // Resolved at conf load: AF_INET or AF_INET6, with the port.
    sockaddr_storage address{};
    std::string user;                  // empty: `AUTH password` (the default user)
    std::string password;              // empty: no AUTH
    int db = 0;                        // SELECTed when not 0
    std::string client_name;           // CLIENT SETNAME; empty: none. See client_name() below.
    std::vector<std::string> scripts;  // Lua sources, SCRIPT LOADed at every connect (Connection)
    double connect_timeout = 2;        // seconds, > 0 (push_redis_connect_timeout)
    double command_timeout = 2;        // seconds, > 0 (push_redis_command_timeout)
};

// "pushrelay:<host>:<pid>:<role>", the CLIENT SETNAME of this process (role: "worker", "relay").
std::string client_name(std::string_view role);

// The numeric form of an address, as hiredis takes it: "10.0.0.5" or "::1"; "" if neither family.
std::string numeric_host(const sockaddr_storage& address);
// The address's port; 0 if neither family.
int port_of(const sockaddr_storage& address);

// A command's arguments as hiredis's C calls take them (argc, argv, argvlen), binary-safe. Views
// into `argv`, which must outlive the ArgvView.
struct ArgvView {
    explicit ArgvView(const std::vector<std::string>& argv);
    int count() const { return static_cast<int>(parts.size()); }

    std::vector<const char*> parts;
    std::vector<size_t> lengths;
};

// scale-out.md's reconnect delay: 100 ms doubling to 1 s, each delay ±20 % (so that the nodes of
// a deployment do not all come back at the same instant), back to 100 ms once up.
class Backoff {
  public:
    Backoff();
    // The delay before the next attempt, in seconds; the one after it doubles (up to 1 s).
    double next();
    // Called once a connection is up.
    void reset();

  private:
    double base_;
    std::minstd_rand jitter_;
};

// The observers' rule, "once per change": an up connection going down is always reported; a
// failed attempt only when its reason differs from the last one reported, so that a Redis that
// stays unreachable is reported once, not at every retry.
class DownReports {
  public:
    // Whether `failure` is to be reported now; remembers it if so.
    bool should_report(const Failure& failure, bool was_up);
    // Called once a connection is up.
    void reset() { last_.reset(); }

  private:
    std::optional<Failure> last_;
};

// The first word of an error reply's text ("WRONGPASS", "MOVED", "LOADING").
std::string_view error_code(std::string_view error);

// scale-out.md: LOADING, BUSY, READONLY, TRYAGAIN and CLUSTERDOWN all mean "not ready", and none
// is fatal. `code` is error_code()'s word.
bool is_not_ready(std::string_view code);

// What an error reply to a connection's own command (AUTH, SELECT, SUBSCRIBE, ...) means.
Failure::Kind failure_kind(std::string_view code);

// A duration for a reason text: "0.3s".
std::string seconds(double value);

// libev may run a timer a hair before the deadline computed with ev_now: within this, it is due.
inline constexpr double kTimerSlack = 1e-3;

void init_timer(ev_timer& timer, void (*callback)(struct ev_loop*, ev_timer*, int), void* data);
// Stops `timer` and starts it again to fire once, `after` seconds from now (at once if < 0).
void restart_timer(struct ev_loop* loop, ev_timer& timer, double after);

}  // namespace pushrelay::redis
