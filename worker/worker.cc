#include "worker/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "broker/redis_broker.h"
#include "broker/shm_broker.h"
#include "conf/conf.h"
#include "core/log.h"
#include "http/access_log.h"
#include "relay/settings.h"
#include "shm/store.h"
#include "worker/crash.h"

namespace pushrelay::worker {
namespace {

// How often expired messages and idle channels are looked for. The store's expiry index makes a
// tick with nothing due cost one lock and one lookup.
constexpr double kExpireInterval = 1.0;
// Connections accepted per readiness event, so one busy listener cannot starve the others.
constexpr int kAcceptBatch = 64;
constexpr size_t kAcceptSlack = 16;
// How long a worker kAcceptSlack connections ahead steps aside after taking one connection.
constexpr double kAcceptPause = 0.001;

// No Nagle delay on responses. TCP keepalive is not set here: the socket inherits the listening
// socket's (listen's so_keepalive, set by the master).
void configure_client_socket(int fd) {
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// The shared segment, or in Redis mode the segment as a cache of Redis.
std::unique_ptr<broker::Broker> make_broker(const core::WorkerContext& context,
                                            struct ev_loop* loop) {
    const conf::RedisSettings& redis = context.config->redis;
    if (!redis.enabled())
        return std::make_unique<broker::ShmBroker>(*context.store, context.slot, context.wake_fds,
                                                   loop);
    broker::RedisBrokerSettings settings{relay::connection_settings(redis, "worker"),
                                         relay::seed_addresses(redis),
                                         redis.ns,
                                         redis.mode == conf::RedisStorageMode::Nostore
                                             ? redis::StorageMode::NoStore
                                             : redis::StorageMode::Distributed,
                                         context.node_id,
                                         context.relay_fd};
    return std::make_unique<broker::RedisBroker>(*context.store, context.slot, context.wake_fds,
                                                 loop, std::move(settings));
}

}  // namespace

Worker::Worker(const core::WorkerContext& context, struct ev_loop* loop)
    : context_(context),
      loop_(loop),
      broker_(make_broker(context_, loop)),
      relay_(*broker_, loop),
      limiter_(relay_, *context_.config, *context_.limit_zones, context_.slot),
      connections_(loop, limiter_, [this](size_t) { publish_open_count(); }) {
    relay_.set_websocket_count_listener([this] { publish_open_count(); });
    accept_watchers_.resize(context_.listeners.size());
}

// HTTP connections and upgraded ones (WebSockets) alike: the balancing, worker_connections and
// the end of a graceful stop see both.
size_t Worker::open_count() const {
    return connections_.size() + relay_.websocket_count();
}

void Worker::publish_open_count() {
    context_.store->set_connections(context_.slot, static_cast<uint32_t>(open_count()));
}

// Members go in reverse order: the connections first (their open exchanges give their waiters
// back through the relay, and their limit_conn counts through on_end), then the limiter, the
// relay, the broker.
Worker::~Worker() = default;

void Worker::start() {
    for (size_t i = 0; i < context_.listeners.size(); i++) {
        ev_io& w = accept_watchers_[i];
        ev_io_init(&w, on_accept, context_.listeners[i].fd, EV_READ);
        w.data = this;
        ev_io_start(loop_, &w);
    }
    ev_io_init(&wake_watcher_, on_wake, context_.wake_fds[context_.slot], EV_READ);
    wake_watcher_.data = this;
    ev_io_start(loop_, &wake_watcher_);

    ev_timer_init(&expire_timer_, on_expire_timer, kExpireInterval, kExpireInterval);
    expire_timer_.data = this;
    ev_timer_start(loop_, &expire_timer_);

    ev_check_init(&idle_check_, on_check);
    idle_check_.data = this;
    ev_check_start(loop_, &idle_check_);

    ev_signal_init(&term_watcher_, on_stop_signal, SIGTERM);
    ev_signal_init(&int_watcher_, on_stop_signal, SIGINT);
    ev_signal_init(&quit_watcher_, on_quit_signal, SIGQUIT);
    ev_signal_init(&retire_watcher_, on_retire_signal, core::kRetireSignal);
    ev_signal_init(&usr1_watcher_, on_reopen_signal, SIGUSR1);
    for (ev_signal* s :
         {&term_watcher_, &int_watcher_, &quit_watcher_, &retire_watcher_, &usr1_watcher_}) {
        s->data = this;
        ev_signal_start(loop_, s);
    }
    // The master forks with the retire signal blocked (a retire sent before this point stays
    // pending rather than ignored): now that the loop watches it, it may arrive.
    sigset_t retire;
    sigemptyset(&retire);
    sigaddset(&retire, core::kRetireSignal);
    sigprocmask(SIG_UNBLOCK, &retire, nullptr);
    ev_init(&shutdown_timer_, on_shutdown_timer);
    shutdown_timer_.data = this;
    ev_init(&accept_pause_, on_accept_pause);
    accept_pause_.data = this;
    context_.store->set_accepting(context_.slot, true);

    // Events posted before this worker existed (a replaced worker's slot was reset) or while it
    // started must not wait for the next wakeup.
    broker_->dispatch_events();
}

void Worker::on_accept(struct ev_loop*, ev_io* w, int) {
    auto* self = static_cast<Worker*>(w->data);
    size_t index = w - self->accept_watchers_.data();
    self->accept_from(w->fd, *self->context_.listeners[index].server);
}

// Every worker watches the same listening sockets, and whichever wakes first would take a whole
// burst of connections (three tries at 10,000 gave 76% to one worker). A worker holding
// kAcceptSlack more connections than the least loaded accepting worker takes one connection and
// then stops watching the listening sockets for kAcceptPause, so the others drain the queue.
// Taking only one per wake-up was not enough: the busy worker, already running, won the race
// against the others' wake-ups connection after connection (7,779/2,369 of 10,000 under a loaded
// machine). It never stops accepting altogether: at one connection per pause it still drains a
// queue the others leave (a long pause with nothing taken let the listen queue overflow in a
// burst, and the kernel then drops SYNs that clients retry only after a second or more).
bool Worker::too_busy_to_accept() const {
    auto fewest = context_.store->fewest_connections_elsewhere(context_.slot);
    return fewest && open_count() > *fewest + kAcceptSlack;
}

void Worker::accept_from(int listen_fd, const conf::Server& server) {
    int batch = kAcceptBatch;
    if (too_busy_to_accept()) {
        batch = 1;
        pause_accepting();
    }
    for (int i = 0; i < batch; i++) {
        sockaddr_storage peer;
        socklen_t len = sizeof peer;
        core::UniqueFd socket(accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len,
                                      SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!socket) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_ALERT_ERRNO("accept4()");
            return;
        }
        if (open_count() >= static_cast<size_t>(context_.config->worker_connections)) {
            LOG_WARN("%d worker_connections are not enough, closing a new connection",
                     context_.config->worker_connections);
            continue;
        }
        configure_client_socket(socket.get());
        connections_.adopt(std::move(socket), peer, server);
    }
}

void Worker::on_wake(struct ev_loop*, ev_io* w, int) {
    uint64_t count;
    // Reading resets the eventfd; the mailbox, not the count, says what happened.
    if (::read(w->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        LOG_ALERT_ERRNO("read(eventfd)");
    static_cast<Worker*>(w->data)->broker_->dispatch_events();
}

void Worker::on_expire_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Worker*>(w->data)->broker_->expire();
}

// After a graceful stop began: the loop ends once the last connection is gone.
void Worker::on_check(struct ev_loop* loop, ev_check* w, int) {
    auto* self = static_cast<Worker*>(w->data);
    if (self->shutting_down_ && self->open_count() == 0)
        ev_break(loop, EVBREAK_ALL);
}

void Worker::on_stop_signal(struct ev_loop* loop, ev_signal*, int) {
    ev_break(loop, EVBREAK_ALL);
}

void Worker::on_quit_signal(struct ev_loop*, ev_signal* w, int) {
    static_cast<Worker*>(w->data)->begin_graceful_shutdown(push::Shutdown::Stop);
}

void Worker::on_retire_signal(struct ev_loop*, ev_signal* w, int) {
    static_cast<Worker*>(w->data)->begin_graceful_shutdown(push::Shutdown::Restart);
}

void Worker::on_reopen_signal(struct ev_loop*, ev_signal*, int) {
    http::access_log::reopen();
    std::string err = log::reopen();
    if (!err.empty())
        LOG_ERROR("reopening the error log: %s", err.c_str());
}

void Worker::on_shutdown_timer(struct ev_loop* loop, ev_timer*, int) {
    LOG_WARN("worker_shutdown_timeout passed, closing the remaining connections");
    ev_break(loop, EVBREAK_ALL);
}

void Worker::pause_accepting() {
    if (ev_is_active(&accept_pause_))
        return;
    for (ev_io& w : accept_watchers_) ev_io_stop(loop_, &w);
    ev_timer_set(&accept_pause_, kAcceptPause, 0.);
    ev_timer_start(loop_, &accept_pause_);
}

void Worker::on_accept_pause(struct ev_loop* loop, ev_timer* w, int) {
    auto* self = static_cast<Worker*>(w->data);
    if (self->shutting_down_)
        return;
    for (ev_io& a : self->accept_watchers_) ev_io_start(loop, &a);
}

// For good (a graceful stop): the other workers stop counting on this one when they balance
// their accepts.
void Worker::stop_accepting() {
    ev_timer_stop(loop_, &accept_pause_);
    for (ev_io& w : accept_watchers_) ev_io_stop(loop_, &w);
    context_.store->set_accepting(context_.slot, false);
}

// QUIT: accept nothing more, answer held subscribers with 304 (they re-poll elsewhere), let
// requests in flight finish, close idle connections.
void Worker::begin_graceful_shutdown(push::Shutdown why) {
    if (shutting_down_)
        return;
    shutting_down_ = true;
    stop_accepting();
    ev_timer_set(&shutdown_timer_, context_.config->worker_shutdown_timeout.count() / 1000.0, 0.);
    ev_timer_start(loop_, &shutdown_timer_);
    // Stopping first, so that the 304s below carry Connection: close.
    connections_.stop_gracefully();
    relay_.stop(why);
}

int run(const core::WorkerContext& context) {
    if (const char* error = crash::install(); *error != '\0')
        LOG_ALERT("%s", error);
    struct ev_loop* loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        LOG_ALERT("ev_default_loop() failed");
        return core::kWorkerExitFatal;
    }
    signal(SIGPIPE, SIG_IGN);
    {
        Worker worker(context, loop);
        worker.start();
        ev_run(loop, 0);
    }
    return core::kWorkerExitOk;
}

}  // namespace pushrelay::worker
