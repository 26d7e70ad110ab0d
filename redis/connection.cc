#include "redis/connection.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace pushrelay::redis {
namespace {

// The first word of an error reply ("NOSCRIPT", "LOADING"); "" for anything else.
std::string_view error_code(const Value& value) {
    return value.type == Value::Type::Error ? redis::error_code(value.string) : std::string_view();
}

// One "name:value" line of an INFO reply; "" when absent.
std::string info_field(std::string_view info, std::string_view name) {
    size_t pos = 0;
    while (pos < info.size()) {
        size_t end = info.find('\n', pos);
        if (end == std::string_view::npos)
            end = info.size();
        std::string_view line = info.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ':')
            return std::string(line.substr(name.size() + 1));
        pos = end + 1;
    }
    return {};
}

// scale-out.md: Redis 6.2 brings streams with explicit ids, exclusive XRANGE and ACL.
bool version_supported(const std::string& version) {
    int major = 0;
    int minor = 0;
    if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2)
        return false;
    return major > 6 || (major == 6 && minor >= 2);
}

std::string hiredis_error(const redisAsyncContext* ac, const char* fallback) {
    return ac->errstr && *ac->errstr ? ac->errstr : fallback;
}

}  // namespace

Connection::Connection(struct ev_loop* loop, Settings settings, Observer& observer)
    : loop_(loop),
      settings_(std::move(settings)),
      host_(numeric_host(settings_.address)),
      port_(port_of(settings_.address)),
      observer_(observer) {
    init_timer(reply_timer_, on_reply_timer, this);
    init_timer(idle_timer_, on_idle_timer, this);
    init_timer(retry_timer_, on_retry_timer, this);
    init_timer(wait_timer_, on_wait_timer, this);
    init_timer(broken_timer_, on_broken_timer, this);
    // The first attempt runs from the loop, so that the observer is never called from here.
    restart_timer(loop_, retry_timer_, 0);
}

Connection::~Connection() {
    for (ev_timer* timer :
         {&reply_timer_, &idle_timer_, &retry_timer_, &wait_timer_, &broken_timer_})
        ev_timer_stop(loop_, timer);
    release_context(false);
}

void Connection::command(std::vector<std::string> argv, Callback callback) {
    auto request = std::make_unique<Request>();
    request->argv = std::move(argv);
    request->callback = std::move(callback);
    request->queued_at = ev_now(loop_);
    submit(std::move(request));
}

void Connection::evalsha(std::size_t script, const std::vector<std::string>& keys,
                         const std::vector<std::string>& args, Callback callback) {
    auto request = std::make_unique<Request>();
    request->argv = {"EVALSHA", "", std::to_string(keys.size())};
    request->argv.insert(request->argv.end(), keys.begin(), keys.end());
    request->argv.insert(request->argv.end(), args.begin(), args.end());
    request->callback = std::move(callback);
    request->script = script;
    request->queued_at = ev_now(loop_);
    submit(std::move(request));
}

std::size_t Connection::pending() const {
    const auto callers = std::count_if(in_flight_.begin(), in_flight_.end(),
                                       [](const Sent& sent) { return sent.request != nullptr; });
    return waiting_.size() + static_cast<std::size_t>(callers);
}

void Connection::attempt() {
    ++counters_.attempts;
    state_ = State::Connecting;
    redisAsyncContext* ac = redisAsyncConnect(host_.c_str(), port_);
    if (!ac) {
        drop({Failure::Kind::Io, "redisAsyncConnect() failed: out of memory"}, Outcome::Lost,
             false);
        return;
    }
    if (ac->err) {
        // Refused at once (a local port with no listener), or the socket calls failed.
        std::string reason = "connect() failed: " + hiredis_error(ac, "unknown error");
        redisAsyncFree(ac);
        drop({Failure::Kind::Io, std::move(reason)}, Outcome::Lost, false);
        return;
    }
    ac->data = this;
    redisLibevAttach(loop_, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ac_ = ac;
    restart_timer(loop_, reply_timer_, settings_.connect_timeout);
}

// Pipelined: one round trip. A failing step ends the attempt; the replies after it (NOAUTH, once
// AUTH failed) are never read.
void Connection::start_setup() {
    setup_pending_ = 0;
    script_shas_.assign(settings_.scripts.size(), {});
    if (!settings_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!settings_.user.empty())
            auth.push_back(settings_.user);
        auth.push_back(settings_.password);
        send_setup_command(std::move(auth), "AUTH", nullptr);
    }
    if (settings_.db != 0)
        send_setup_command({"SELECT", std::to_string(settings_.db)}, "SELECT", nullptr);
    // Only a label for CLIENT LIST: a Redis that refuses it is still usable.
    if (!settings_.client_name.empty())
        send_internal({"CLIENT", "SETNAME", settings_.client_name}, [](Value&&) {});
    send_setup_command({"INFO", "server"}, "INFO server",
                       [this](Value&& info) { check_version(info); });
    send_setup_command({"INFO", "cluster"}, "INFO cluster", [this](Value&& info) {
        cluster_enabled_ = info_field(info.string, "cluster_enabled") == "1";
    });
    for (std::size_t i = 0; i < settings_.scripts.size(); ++i)
        send_setup_command({"SCRIPT", "LOAD", settings_.scripts[i]}, "SCRIPT LOAD",
                           [this, i](Value&& sha) { script_shas_[i] = std::move(sha.string); });
}

void Connection::send_setup_command(std::vector<std::string> argv, std::string_view name,
                                    std::function<void(Value&&)> on_ok) {
    ++setup_pending_;
    send_internal(std::move(argv), [this, name, on_ok = std::move(on_ok)](Value&& value) {
        setup_reply(name, std::move(value), on_ok);
    });
}

void Connection::setup_reply(std::string_view name, Value&& value,
                             const std::function<void(Value&&)>& on_ok) {
    const std::string_view code = error_code(value);
    if (!code.empty()) {
        drop({failure_kind(code), std::string(name) + " failed: " + value.string}, Outcome::Lost,
             false);
        return;
    }
    if (on_ok)
        on_ok(std::move(value));
    if (state_ == State::Connecting && --setup_pending_ == 0)
        become_up();
}

void Connection::check_version(const Value& info) {
    server_version_ = info_field(info.string, "redis_version");
    if (!version_supported(server_version_))
        drop({Failure::Kind::Version,
              "Redis " + server_version_ + " is older than 6.2, which pushrelay needs"},
             Outcome::Lost, false);
}

void Connection::become_up() {
    state_ = State::Up;
    backoff_.reset();
    ++counters_.connects;
    down_reports_.reset();
    down_reason_.clear();
    ev_timer_stop(loop_, &reply_timer_);
    ev_timer_stop(loop_, &wait_timer_);
    std::deque<std::unique_ptr<Request>> waiting = std::exchange(waiting_, {});
    for (std::unique_ptr<Request>& request : waiting) send(std::move(request));
    arm_reply_timer();
    observer_.on_up();
}

void Connection::submit(std::unique_ptr<Request> request) {
    if (state_ == State::Up) {
        send(std::move(request));
        return;
    }
    waiting_.push_back(std::move(request));
    if (waiting_.size() == 1)
        arm_wait_timer();
}

void Connection::send(std::unique_ptr<Request> request) {
    if (request->script)
        request->argv[1] = script_shas_[*request->script];
    if (!write(request->argv)) {
        // Not sent: it waits for the next connection, under its own deadline.
        waiting_.push_back(std::move(request));
        arm_wait_timer();
        return;
    }
    ++counters_.commands;
    in_flight_.push_back({ev_now(loop_), std::move(request), nullptr});
    if (in_flight_.size() == 1)
        arm_reply_timer();
}

void Connection::send_internal(std::vector<std::string> argv,
                               std::function<void(Value&&)> on_reply) {
    if (!write(argv))
        return;
    in_flight_.push_back({ev_now(loop_), nullptr, std::move(on_reply)});
    if (in_flight_.size() == 1)
        arm_reply_timer();
}

// hiredis refuses a command only while it tears the context down, or out of memory; the
// connection is then dropped from the loop, so that no callback runs inside command().
bool Connection::write(const std::vector<std::string>& argv) {
    ArgvView view(argv);
    if (redisAsyncCommandArgv(ac_, on_reply, this, view.count(), view.parts.data(),
                              view.lengths.data()) == REDIS_OK)
        return true;
    broken_reason_ = "redisAsyncCommandArgv() failed: " + hiredis_error(ac_, "out of memory");
    if (!ev_is_active(&broken_timer_))
        restart_timer(loop_, broken_timer_, 0);
    return false;
}

void Connection::on_value(Value&& value) {
    Sent sent = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (sent.request)
        finish(std::move(sent.request), std::move(value));
    else
        sent.internal(std::move(value));
    arm_reply_timer();
}

void Connection::finish(std::unique_ptr<Request> request, Value&& value) {
    const std::string_view code = error_code(value);
    if (code == "NOSCRIPT" && request->script && !request->retried) {
        // Pipelined: Redis runs the SCRIPT LOAD before the EVALSHA behind it.
        request->retried = true;
        const std::size_t script = *request->script;
        send_internal({"SCRIPT", "LOAD", settings_.scripts[script]}, [this, script](Value&& sha) {
            if (sha.type == Value::Type::String)
                script_shas_[script] = std::move(sha.string);
        });
        send(std::move(request));
        return;
    }
    Reply reply;
    if (!code.empty()) {
        reply.outcome = is_not_ready(code) ? Outcome::NotReady : Outcome::ErrorReply;
        reply.error = value.string;
    }
    reply.value = std::move(value);
    complete(*request, std::move(reply));
}

void Connection::complete(Request& request, Reply&& reply) {
    if (reply.outcome != Outcome::Ok)
        ++counters_.errors;
    request.callback(std::move(reply));
}

void Connection::drop(Failure failure, Outcome in_flight_outcome, bool hiredis_frees) {
    const bool was_up = state_ == State::Up;
    release_context(hiredis_frees);
    state_ = State::Down;
    for (ev_timer* timer : {&reply_timer_, &idle_timer_, &broken_timer_})
        ev_timer_stop(loop_, timer);
    down_reason_ = failure.reason;
    schedule_attempt();
    report_down(failure, was_up);
    fail_in_flight(in_flight_outcome, failure.reason);
}

// Forgets the context before freeing it: hiredis then calls every pending callback with no
// reply, and on_reply() ignores those, since they no longer come from ac_.
void Connection::release_context(bool hiredis_frees) {
    redisAsyncContext* ac = std::exchange(ac_, nullptr);
    if (ac && !hiredis_frees)
        redisAsyncFree(ac);
}

void Connection::fail_in_flight(Outcome outcome, const std::string& error) {
    std::deque<Sent> in_flight = std::exchange(in_flight_, {});
    for (Sent& sent : in_flight) {
        if (!sent.request)
            continue;
        Reply reply;
        reply.outcome = outcome;
        reply.error = error;
        complete(*sent.request, std::move(reply));
    }
}

void Connection::report_down(const Failure& failure, bool was_up) {
    if (down_reports_.should_report(failure, was_up))
        observer_.on_down(failure);
}

void Connection::schedule_attempt() {
    restart_timer(loop_, retry_timer_, backoff_.next());
}

// Connecting, the connect deadline set by attempt() holds. Up, the oldest command in flight sets
// the deadline (replies come in order, so it is the first due), or the idle PING is due.
void Connection::arm_reply_timer() {
    if (state_ != State::Up)
        return;
    if (in_flight_.empty()) {
        ev_timer_stop(loop_, &reply_timer_);
        if (!ev_is_active(&idle_timer_))
            restart_timer(loop_, idle_timer_, settings_.command_timeout / 2);
        return;
    }
    ev_timer_stop(loop_, &idle_timer_);
    const double due = in_flight_.front().sent_at + settings_.command_timeout;
    restart_timer(loop_, reply_timer_, due - ev_now(loop_));
}

void Connection::arm_wait_timer() {
    if (waiting_.empty()) {
        ev_timer_stop(loop_, &wait_timer_);
        return;
    }
    const double due = waiting_.front()->queued_at + settings_.command_timeout;
    restart_timer(loop_, wait_timer_, due - ev_now(loop_));
}

void Connection::expire_waiting() {
    const std::string error =
        "not connected: " + (down_reason_.empty() ? std::string("connecting") : down_reason_);
    const ev_tstamp now = ev_now(loop_);
    while (!waiting_.empty() &&
           waiting_.front()->queued_at + settings_.command_timeout <= now + kTimerSlack) {
        std::unique_ptr<Request> request = std::move(waiting_.front());
        waiting_.pop_front();
        Reply reply;
        reply.outcome = Outcome::Unavailable;
        reply.error = error;
        complete(*request, std::move(reply));
    }
    arm_wait_timer();
}

void Connection::on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<Connection*>(ac->data);
    if (ac != self->ac_)
        return;
    if (status != REDIS_OK) {
        // hiredis frees the context once this returns.
        self->drop({Failure::Kind::Io, "connect() failed: " + hiredis_error(ac, "unknown error")},
                   Outcome::Lost, true);
        return;
    }
    self->start_setup();
}

void Connection::on_disconnect(const redisAsyncContext* ac, int) {
    auto* self = static_cast<Connection*>(ac->data);
    if (ac != self->ac_)
        return;
    self->drop({Failure::Kind::Io,
                "connection lost: " + hiredis_error(ac, "Server closed the connection")},
               Outcome::Lost, true);
}

// A null reply with the current context: hiredis is freeing it after a read or write error, and
// calls every pending callback so; the first one drops the connection, the others are ignored.
void Connection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    auto* self = static_cast<Connection*>(privdata);
    if (ac != self->ac_)
        return;
    if (!reply) {
        self->drop({Failure::Kind::Io,
                    "connection lost: " + hiredis_error(ac, "Server closed the connection")},
                   Outcome::Lost, true);
        return;
    }
    self->on_value(to_value(*static_cast<const redisReply*>(reply)));
}

void Connection::on_reply_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Connection*>(w->data);
    const std::string limit_text =
        seconds(self->state_ == State::Connecting ? self->settings_.connect_timeout
                                                  : self->settings_.command_timeout);
    if (self->state_ == State::Connecting)
        self->drop({Failure::Kind::Timeout, "connect and setup not done within " + limit_text},
                   Outcome::Lost, false);
    else
        self->drop({Failure::Kind::Timeout, "no reply from Redis within " + limit_text},
                   Outcome::Timeout, false);
}

void Connection::on_idle_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Connection*>(w->data);
    self->send_internal({"PING"}, [](Value&&) {});
}

void Connection::on_retry_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Connection*>(w->data)->attempt();
}

void Connection::on_wait_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Connection*>(w->data)->expire_waiting();
}

void Connection::on_broken_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Connection*>(w->data);
    if (self->state_ != State::Down)
        self->drop({Failure::Kind::Io, self->broken_reason_}, Outcome::Lost, false);
}

void CounterDeltas::report(const Connection::Counters& now, const Add& add) {
    add(core::RedisCounter::Connects, now.connects - reported_.connects);
    add(core::RedisCounter::Commands, now.commands - reported_.commands);
    add(core::RedisCounter::Errors, now.errors - reported_.errors);
    reported_ = now;
}

}  // namespace pushrelay::redis
