// What the tests of redis/'s connections share: a loop run until a condition holds (never longer
// than a deadline), settings for a loopback Redis, and a blocking admin client (hiredis sync) for
// what a test does to Redis behind a connection's back.
#pragma once

#include <arpa/inet.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "redis/connection.h"
#include "redis/link.h"

namespace pushrelay::redis::testing {

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

inline Settings local(int port, double command_timeout = 2, double connect_timeout = 2) {
    Settings settings;
    auto& in = reinterpret_cast<sockaddr_in&>(settings.address);
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<uint16_t>(port));
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    settings.client_name = client_name("test");
    settings.command_timeout = command_timeout;
    settings.connect_timeout = connect_timeout;
    return settings;
}

// The test's loop: run until a condition holds, never longer than a deadline.
class Loop {
  public:
    Loop() : loop_(ev_loop_new(EVFLAG_AUTO)) {}
    ~Loop() { ev_loop_destroy(loop_); }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    struct ev_loop* get() {
        return loop_;
    }

    // Runs until `done()` or `limit` seconds; returns done().
    bool run_until(const std::function<bool()>& done, double limit) {
        ev_now_update(loop_);  // the test may have blocked (stopping a server) since the last run
        bool expired = false;
        ev_timer deadline;
        ev_timer_init(&deadline, on_deadline, limit, 0.);
        deadline.data = &expired;
        ev_timer_start(loop_, &deadline);
        while (!done() && !expired) ev_run(loop_, EVRUN_ONCE);
        ev_timer_stop(loop_, &deadline);
        return done();
    }
    // Runs for `seconds`, whatever happens.
    void run_for(double seconds) {
        run_until([] { return false; }, seconds);
    }

  private:
    static void on_deadline(struct ev_loop*, ev_timer* w, int) {
        *static_cast<bool*>(w->data) = true;
    }
    struct ev_loop* loop_;
};

// A blocking admin client, for what the test does to Redis behind a connection's back.
class Admin {
  public:
    explicit Admin(int port) : context_(redisConnect("127.0.0.1", port)) {
        redisSetTimeout(context_, timeval{5, 0});  // every wait bounded
    }
    ~Admin() { redisFree(context_); }
    Admin(const Admin&) = delete;
    Admin& operator=(const Admin&) = delete;

    // The reply's text (status, string or error), or its integer in decimal.
    std::string run(const std::vector<std::string>& argv) {
        ArgvView view(argv);
        auto* reply = static_cast<redisReply*>(
            redisCommandArgv(context_, view.count(), view.parts.data(), view.lengths.data()));
        if (!reply)
            return "no reply";
        std::string text = reply->type == REDIS_REPLY_INTEGER ? std::to_string(reply->integer)
                           : reply->str                       ? std::string(reply->str, reply->len)
                                                              : std::string();
        freeReplyObject(reply);
        return text;
    }
    // Sends without waiting for the reply (a command that blocks Redis).
    void send(const std::vector<std::string>& argv) {
        ArgvView view(argv);
        redisAppendCommandArgv(context_, view.count(), view.parts.data(), view.lengths.data());
        int done = 0;
        while (!done && redisBufferWrite(context_, &done) == REDIS_OK) {
        }
    }
    std::string read_reply() {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK || !raw)
            return "no reply";
        auto* reply = static_cast<redisReply*>(raw);
        std::string text = reply->str ? std::string(reply->str, reply->len) : std::string();
        freeReplyObject(reply);
        return text;
    }

  private:
    redisContext* context_;
};

// A connection's Observer that records what it was told.
class Recorder : public Observer {
  public:
    void on_up() override { ++ups; }
    void on_down(const Failure& failure) override { downs.push_back(failure); }
    int ups = 0;
    std::vector<Failure> downs;
};

}  // namespace pushrelay::redis::testing
