#include "redis/subscription.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <utility>

#include "redis/keys.h"

namespace pushrelay::redis {
namespace {

// Channels per (UN)SUBSCRIBE: a resync of thousands of channels takes a few commands, and no
// command is large enough to hold Redis up.
constexpr std::size_t kBatch = 256;

// What one read(2) takes; the socket is level-triggered, so a larger backlog takes more rounds of
// the loop, and the relay's other watchers get their turn between them.
constexpr std::size_t kReadChunk = 64 * 1024;

struct ReplyFree {
    void operator()(redisReply* reply) const { freeReplyObject(reply); }
};

std::string_view text_of(const redisReply& reply) {
    return std::string_view(reply.str, reply.len);
}

bool is_string(const redisReply& reply) {
    return reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS;
}

socklen_t address_length(const sockaddr_storage& address) {
    return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string system_error(const char* call, int error) {
    return std::string(call) + " failed: " + std::strerror(error);
}

}  // namespace

Subscription::Subscription(struct ev_loop* loop, Settings settings, bool sharded,
                           SubscriptionObserver& observer)
    : loop_(loop), settings_(std::move(settings)), sharded_(sharded), observer_(observer) {
    ev_init(&io_, on_io);
    io_.data = this;
    init_timer(deadline_timer_, on_deadline_timer, this);
    init_timer(retry_timer_, on_retry_timer, this);
    init_timer(flush_timer_, on_flush_timer, this);
    // The first attempt runs from the loop, so that the observer is never called from here.
    restart_timer(loop_, retry_timer_, 0);
}

Subscription::~Subscription() {
    ev_io_stop(loop_, &io_);
    for (ev_timer* timer : {&deadline_timer_, &retry_timer_, &flush_timer_})
        ev_timer_stop(loop_, timer);
    if (reader_)
        redisReaderFree(reader_);
}

void Subscription::subscribe(std::string channel) {
    const auto [it, inserted] = wanted_.try_emplace(std::move(channel));
    if (!inserted || !connected())
        return;  // start_setup() subscribes every wanted channel
    to_subscribe_.push_back(it->first);
    schedule_flush();
}

void Subscription::unsubscribe(const std::string& channel) {
    const auto it = wanted_.find(channel);
    if (it == wanted_.end())
        return;
    if (it->second.confirmed)
        --confirmed_;
    if (connected() && it->second.subscribed_by != 0) {
        to_unsubscribe_.push_back(channel);
        schedule_flush();
    }
    wanted_.erase(it);
}

Subscription::Sent Subscription::own_command(Sent::Kind kind, std::string name,
                                             bool errors_ignored) {
    Sent sent;
    sent.kind = kind;
    sent.name = std::move(name);
    sent.errors_ignored = errors_ignored;
    return sent;
}

void Subscription::attempt() {
    ++counters_.attempts;
    state_ = State::Connecting;
    attempt_started_ = ev_now(loop_);
    const int fd = socket(settings_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          IPPROTO_TCP);
    if (fd < 0) {
        drop({Failure::Kind::Io, system_error("socket()", errno)});
        return;
    }
    socket_.reset(fd);
    // Commands are small and latency-bound; a failure here only costs latency.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    reader_ = redisReaderCreate();
    if (!reader_) {
        drop({Failure::Kind::Io, "redisReaderCreate() failed: out of memory"});
        return;
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&settings_.address),
                address_length(settings_.address)) != 0 &&
        errno != EINPROGRESS) {
        drop({Failure::Kind::Io, system_error("connect()", errno)});
        return;
    }
    watch_io(EV_WRITE);  // writable: connected, or failed (SO_ERROR says which)
    arm_deadline();
}

void Subscription::on_connected() {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        error = errno;
    if (error != 0) {
        drop({Failure::Kind::Io, system_error("connect()", error)});
        return;
    }
    state_ = State::SettingUp;
    watch_io(EV_READ);
    start_setup();
    if (sent_.empty())
        become_up();
}

// Pipelined: one round trip. The first error ends the attempt, and nothing after it is read.
void Subscription::start_setup() {
    if (!settings_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!settings_.user.empty())
            auth.push_back(settings_.user);
        auth.push_back(settings_.password);
        send(own_command(Sent::Kind::Setup, "AUTH"), auth);
    }
    if (settings_.db != 0)
        send(own_command(Sent::Kind::Setup, "SELECT"), {"SELECT", std::to_string(settings_.db)});
    // Only a label for CLIENT LIST: a Redis that refuses it is still usable.
    if (!settings_.client_name.empty())
        send(own_command(Sent::Kind::Setup, "CLIENT SETNAME", true),
             {"CLIENT", "SETNAME", settings_.client_name});
    for (const auto& [channel, state] : wanted_) to_subscribe_.push_back(channel);
    flush();
}

void Subscription::become_up() {
    state_ = State::Up;
    backoff_.reset();
    down_reports_.reset();
    ++counters_.connects;
    arm_deadline();
    observer_.on_up();
}

void Subscription::send(Sent sent, const std::vector<std::string>& argv) {
    ArgvView view(argv);
    char* command = nullptr;
    const int length =
        redisFormatCommandArgv(&command, view.count(), view.parts.data(), view.lengths.data());
    if (length < 0)
        throw std::bad_alloc();  // formatting fails on nothing else, as std::string's append
    out_.append(command, static_cast<std::size_t>(length));
    redisFreeCommand(command);
    sent.sent_at = ev_now(loop_);
    sent_.push_back(std::move(sent));
    if (sent_.size() == 1)
        arm_deadline();
}

void Subscription::schedule_flush() {
    if (!ev_is_active(&flush_timer_))
        restart_timer(loop_, flush_timer_, 0);
}

// Unsubscribes first: a channel unsubscribed and subscribed again in one loop iteration must end
// up subscribed.
void Subscription::flush() {
    if (!connected())
        return;
    send_channel_batches(Sent::Kind::Unsubscribe, std::exchange(to_unsubscribe_, {}));
    std::vector<std::string> channels = std::exchange(to_subscribe_, {});
    std::sort(channels.begin(), channels.end());
    channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
    std::erase_if(channels, [this](const std::string& channel) {
        const auto it = wanted_.find(channel);
        return it == wanted_.end() || it->second.subscribed_by != 0;
    });
    send_channel_batches(Sent::Kind::Subscribe, std::move(channels));
    watch_io(EV_READ | (out_.empty() ? 0 : EV_WRITE));
}

// In a Cluster, a command's channels must share a slot (CROSSSLOT otherwise), so the batches are
// cut per slot there; a standalone Redis takes any mix.
void Subscription::send_channel_batches(Sent::Kind kind, std::vector<std::string> channels) {
    std::map<unsigned, std::vector<std::string>> by_slot;
    for (std::string& channel : channels)
        by_slot[sharded_ ? cluster_slot(channel) : 0].push_back(std::move(channel));
    const bool subscribe = kind == Sent::Kind::Subscribe;
    const std::string name = subscribe ? (sharded_ ? "SSUBSCRIBE" : "SUBSCRIBE")
                                       : (sharded_ ? "SUNSUBSCRIBE" : "UNSUBSCRIBE");
    for (auto& [slot, group] : by_slot) {
        for (std::size_t first = 0; first < group.size(); first += kBatch) {
            const auto begin = group.begin() + static_cast<std::ptrdiff_t>(first);
            const auto end =
                group.begin() + static_cast<std::ptrdiff_t>(std::min(first + kBatch, group.size()));
            Sent sent{.kind = kind,
                      .name = name,
                      .channels = {std::make_move_iterator(begin), std::make_move_iterator(end)}};
            if (subscribe) {
                sent.id = next_id_++;
                for (const std::string& channel : sent.channels)
                    wanted_.at(channel).subscribed_by = sent.id;
            }
            std::vector<std::string> argv{name};
            argv.insert(argv.end(), sent.channels.begin(), sent.channels.end());
            send(std::move(sent), argv);
        }
    }
}

void Subscription::write_out() {
    const ssize_t written = ::send(socket_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
    if (written < 0) {
        if (errno != EAGAIN && errno != EINTR)
            drop({Failure::Kind::Io, system_error("send()", errno)});
        return;
    }
    out_.erase(0, static_cast<std::size_t>(written));
    if (out_.empty())
        watch_io(EV_READ);
}

void Subscription::read_in() {
    char buffer[kReadChunk];
    const ssize_t got = read(socket_.get(), buffer, sizeof buffer);
    if (got == 0) {
        drop({Failure::Kind::Io, "connection lost: Server closed the connection"});
        return;
    }
    if (got < 0) {
        if (errno != EAGAIN && errno != EINTR)
            drop({Failure::Kind::Io, "connection lost: " + system_error("read()", errno)});
        return;
    }
    last_byte_at_ = ev_now(loop_);
    if (redisReaderFeed(reader_, buffer, static_cast<std::size_t>(got)) != REDIS_OK) {
        drop({Failure::Kind::Io, std::string("protocol error: ") + reader_->errstr});
        return;
    }
    while (state_ != State::Down) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
            drop({Failure::Kind::Io, std::string("protocol error: ") + reader_->errstr});
            return;
        }
        if (!raw)
            break;
        const std::unique_ptr<redisReply, ReplyFree> reply(static_cast<redisReply*>(raw));
        on_reply(*reply);
    }
    if (state_ != State::Down)
        arm_deadline();
}

void Subscription::watch_io(int events) {
    if (events == io_events_)
        return;
    ev_io_stop(loop_, &io_);
    io_events_ = events;
    if (events == 0)
        return;
    ev_io_set(&io_, socket_.get(), events);
    ev_io_start(loop_, &io_);
}

// Pubsub replies are arrays that name their kind; anything else answers a setup command, or a
// PING sent while no channel is subscribed (+PONG).
void Subscription::on_reply(const redisReply& reply) {
    if (reply.type == REDIS_REPLY_ARRAY && reply.elements >= 2 && is_string(*reply.element[0])) {
        on_push(text_of(*reply.element[0]), reply);
        return;
    }
    if (reply.type == REDIS_REPLY_ERROR) {
        on_error_reply(text_of(reply));
        return;
    }
    if (sent_.empty() ||
        (sent_.front().kind != Sent::Kind::Setup && sent_.front().kind != Sent::Kind::Ping)) {
        drop({Failure::Kind::Io, "protocol error: a reply to no command"});
        return;
    }
    answered();
}

void Subscription::on_push(std::string_view kind, const redisReply& reply) {
    if (kind == (sharded_ ? "smessage" : "message") && reply.elements == 3 &&
        is_string(*reply.element[1]) && is_string(*reply.element[2])) {
        const std::string_view channel = text_of(*reply.element[1]);
        const auto it = wanted_.find(std::string(channel));
        if (it != wanted_.end() && it->second.confirmed)
            observer_.on_message(channel, text_of(*reply.element[2]));
        return;
    }
    if (kind == "pong" && !sent_.empty() && sent_.front().kind == Sent::Kind::Ping) {
        answered();
        return;
    }
    const bool confirmation = reply.elements == 3 && is_string(*reply.element[1]);
    if (confirmation && kind == (sharded_ ? "ssubscribe" : "subscribe")) {
        on_confirmation(Sent::Kind::Subscribe, text_of(*reply.element[1]));
        return;
    }
    if (confirmation && kind == (sharded_ ? "sunsubscribe" : "unsubscribe")) {
        on_confirmation(Sent::Kind::Unsubscribe, text_of(*reply.element[1]));
        return;
    }
    drop({Failure::Kind::Io, "protocol error: an unexpected \"" + std::string(kind) + "\" reply"});
}

// Redis confirms each channel of a (UN)SUBSCRIBE in the order the command named them.
void Subscription::on_confirmation(Sent::Kind kind, std::string_view channel) {
    if (!answers_front(kind, channel)) {
        // Redis 7.0 SUNSUBSCRIBEs its shard channel clients itself when a slot leaves the shard.
        if (sharded_ && kind == Sent::Kind::Unsubscribe)
            lose_channel(channel);
        else
            drop({Failure::Kind::Io, "protocol error: a confirmation of \"" + std::string(channel) +
                                         "\" that answers no command"});
        return;
    }
    bool confirmed_now = false;
    if (kind == Sent::Kind::Subscribe) {
        // An older SUBSCRIBE's confirmation, followed by an UNSUBSCRIBE and another SUBSCRIBE,
        // says nothing of the subscription now: only the last one's counts.
        const auto it = wanted_.find(std::string(channel));
        if (it != wanted_.end() && it->second.subscribed_by == sent_.front().id &&
            !it->second.confirmed) {
            it->second.confirmed = true;
            ++confirmed_;
            confirmed_now = true;
        }
    }
    // Before answered(), which may end the setup: on_up follows the channels it covers.
    if (confirmed_now)
        observer_.on_subscribed(channel);
    answered();
}

void Subscription::on_error_reply(std::string_view error) {
    if (sent_.empty()) {
        drop({Failure::Kind::Io,
              "protocol error: an error reply to no command: " + std::string(error)});
        return;
    }
    const Sent& front = sent_.front();
    if (front.errors_ignored) {
        answered();
        return;
    }
    const std::string_view code = error_code(error);
    if (sharded_ && code == "MOVED" && front.kind == Sent::Kind::Subscribe) {
        drop_moved();
        return;
    }
    drop({failure_kind(code), front.name + " failed: " + std::string(error)});
}

// A MOVED answers the whole SSUBSCRIBE: its channels share one slot, which another shard serves.
// The observer hears of them before pop_front() may end the setup and call on_up.
void Subscription::drop_moved() {
    const Sent& sent = sent_.front();
    std::vector<std::string> moved;
    for (const std::string& channel : sent.channels) {
        const auto it = wanted_.find(channel);
        if (it == wanted_.end() || it->second.subscribed_by != sent.id)
            continue;  // unsubscribed, or subscribed again, since
        wanted_.erase(it);
        moved.push_back(channel);
    }
    for (const std::string& channel : moved) observer_.on_moved(channel);
    pop_front();
}

void Subscription::lose_channel(std::string_view channel) {
    const auto it = wanted_.find(std::string(channel));
    if (it == wanted_.end())
        return;
    if (it->second.confirmed)
        --confirmed_;
    wanted_.erase(it);
    observer_.on_moved(channel);
}

bool Subscription::answers_front(Sent::Kind kind, std::string_view channel) const {
    if (sent_.empty())
        return false;
    const Sent& front = sent_.front();
    return front.kind == kind && front.answered < front.channels.size() &&
           front.channels[front.answered] == channel;
}

void Subscription::answered() {
    if (++sent_.front().answered >= sent_.front().channels.size())
        pop_front();
}

void Subscription::pop_front() {
    sent_.pop_front();
    if (state_ == State::SettingUp && sent_.empty())
        become_up();
}

void Subscription::drop(Failure failure) {
    const bool was_up = state_ == State::Up;
    watch_io(0);
    socket_.reset();
    if (reader_)
        redisReaderFree(std::exchange(reader_, nullptr));
    out_.clear();
    sent_.clear();
    to_subscribe_.clear();
    to_unsubscribe_.clear();
    for (auto& [channel, state] : wanted_) state = Channel{};
    confirmed_ = 0;
    for (ev_timer* timer : {&deadline_timer_, &flush_timer_}) ev_timer_stop(loop_, timer);
    state_ = State::Down;
    restart_timer(loop_, retry_timer_, backoff_.next());
    if (down_reports_.should_report(failure, was_up))
        observer_.on_down(failure);
}

// Setting up: the attempt's connect_timeout. Up with a reply awaited: command_timeout from the
// command or the last byte read, whichever is later (a backlog ahead of the reply is progress).
// Up with nothing awaited: command_timeout/2 after the last byte, the PING.
ev_tstamp Subscription::deadline() const {
    if (state_ != State::Up)
        return attempt_started_ + settings_.connect_timeout;
    if (sent_.empty())
        return last_byte_at_ + settings_.command_timeout / 2;
    return std::max(sent_.front().sent_at, last_byte_at_) + settings_.command_timeout;
}

void Subscription::arm_deadline() {
    if (state_ != State::Down)
        restart_timer(loop_, deadline_timer_, deadline() - ev_now(loop_));
}

void Subscription::check_deadline() {
    if (ev_now(loop_) + kTimerSlack < deadline()) {
        arm_deadline();
        return;
    }
    if (state_ != State::Up) {
        drop({Failure::Kind::Timeout,
              "connect and setup not done within " + seconds(settings_.connect_timeout)});
        return;
    }
    if (!sent_.empty()) {
        drop({Failure::Kind::Timeout,
              "no reply from Redis within " + seconds(settings_.command_timeout)});
        return;
    }
    send(own_command(Sent::Kind::Ping, "PING"), {"PING"});
    watch_io(EV_READ | EV_WRITE);
}

void Subscription::on_io(struct ev_loop*, ev_io* w, int revents) {
    auto* self = static_cast<Subscription*>(w->data);
    if (self->state_ == State::Connecting) {
        self->on_connected();
        return;
    }
    if (revents & EV_READ)
        self->read_in();
    if ((revents & EV_WRITE) && self->state_ != State::Down)
        self->write_out();
}

void Subscription::on_deadline_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Subscription*>(w->data)->check_deadline();
}

void Subscription::on_retry_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Subscription*>(w->data)->attempt();
}

void Subscription::on_flush_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Subscription*>(w->data)->flush();
}

}  // namespace pushrelay::redis
