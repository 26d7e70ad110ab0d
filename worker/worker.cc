#include "worker/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "core/log.h"
#include "worker/access_log.h"
#include "worker/connection.h"
#include "worker/core.h"
#include "worker/crash.h"
#include "worker/delivery.h"
#include "worker/handlers.h"

namespace pushrelay::worker {
namespace {

// How often expired messages and idle channels are looked for. The store's
// expiry index makes a tick with nothing due cost one lock and one lookup.
constexpr double kExpireInterval = 1.0;
// Connections accepted per readiness event, so one busy listener cannot
// starve the others.
constexpr int kAcceptBatch = 64;
constexpr size_t kAcceptSlack = 16;

constexpr std::string_view kGoneText = "410 Gone: the channel was deleted.\n";
constexpr std::string_view kKickedText = "409 Conflict: a newer subscriber took this channel.\n";

// No Nagle delay on responses. TCP keepalive is not set here: the socket
// inherits the listening socket's (listen's so_keepalive, set by the master).
void configure_client_socket(int fd) {
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

Worker::Worker(const Context& context, struct ev_loop* loop) : context_(context), loop_(loop) {
    accept_watchers_.resize(context_.listeners.size());
}

Worker::~Worker() {
    // Connections close their fds and release their waiters' counts.
    graveyard_.clear();
    std::vector<Connection*> open;
    for (auto& [c, owned] : connections_) open.push_back(c);
    for (Connection* c : open) c->close();
    graveyard_.clear();
}

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

    ev_check_init(&reaper_, on_check);
    reaper_.data = this;
    ev_check_start(loop_, &reaper_);

    ev_signal_init(&term_watcher_, on_stop_signal, SIGTERM);
    ev_signal_init(&int_watcher_, on_stop_signal, SIGINT);
    ev_signal_init(&quit_watcher_, on_quit_signal, SIGQUIT);
    ev_signal_init(&usr1_watcher_, on_reopen_signal, SIGUSR1);
    for (ev_signal* s : {&term_watcher_, &int_watcher_, &quit_watcher_, &usr1_watcher_}) {
        s->data = this;
        ev_signal_start(loop_, s);
    }
    ev_init(&shutdown_timer_, on_shutdown_timer);
    shutdown_timer_.data = this;
    store().set_accepting(slot(), true);

    // Events posted before this worker existed (a replaced worker's slot was reset) or
    // while it started must not wait for the next wakeup.
    drain_mailbox();
}

void Worker::wake(uint64_t slot_mask) const {
    const uint64_t one = 1;
    for (int slot = 0; slot_mask; slot++, slot_mask >>= 1) {
        if (!(slot_mask & 1))
            continue;
        if (::write(context_.wake_fds[slot], &one, sizeof one) < 0 && errno != EAGAIN) {
            LOG_ALERT_ERRNO("write(eventfd)");
        }
    }
}

std::list<Connection*>::iterator Worker::hold(uint64_t uid, const std::string& key, Connection* c) {
    ChannelWaiters& waiters = waiters_[uid];
    if (waiters.connections.empty())
        waiters.key = key;
    return waiters.connections.insert(waiters.connections.end(), c);
}

void Worker::unhold(uint64_t uid, std::list<Connection*>::iterator position) {
    auto it = waiters_.find(uid);
    if (it == waiters_.end())
        return;
    it->second.connections.erase(position);
    // The list being walked by answer_waiters() must outlive the walk.
    if (it->second.connections.empty() && uid != walking_)
        waiters_.erase(it);
}

void Worker::adopt(std::unique_ptr<Connection> connection) {
    Connection* c = connection.get();
    connections_.emplace(c, std::move(connection));
    store().set_connections(slot(), static_cast<uint32_t>(connections_.size()));
    c->start();
}

void Worker::retire(Connection* connection) {
    auto it = connections_.find(connection);
    if (it == connections_.end())
        return;
    graveyard_.push_back(std::move(it->second));
    connections_.erase(it);
    store().set_connections(slot(), static_cast<uint32_t>(connections_.size()));
}

void Worker::on_check(struct ev_loop*, ev_check* w, int) {
    auto* self = static_cast<Worker*>(w->data);
    self->graveyard_.clear();
    if (self->shutting_down_)
        self->finish_if_idle();
}

void Worker::on_accept(struct ev_loop*, ev_io* w, int) {
    auto* self = static_cast<Worker*>(w->data);
    size_t index = w - self->accept_watchers_.data();
    self->accept_from(w->fd, self->context_.listeners[index].server);
}

// Every worker watches the same listening sockets, and whichever wakes first
// would take a whole burst of connections (three tries at 10,000 gave 76% to
// one worker). A worker holding kAcceptSlack more connections than the least
// loaded accepting worker takes one connection per wake-up instead of a
// batch, so the others drain the queue. It never stops accepting: a pause
// lets the listen queue overflow in a burst, and the kernel then drops SYNs
// that clients retry only after a second or more.
bool Worker::too_busy_to_accept() const {
    auto fewest = store().fewest_connections_elsewhere(slot());
    return fewest && connections_.size() > *fewest + kAcceptSlack;
}

void Worker::accept_from(int listen_fd, const conf::Server* server) {
    int batch = too_busy_to_accept() ? 1 : kAcceptBatch;
    for (int i = 0; i < batch; i++) {
        sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_ALERT_ERRNO("accept4()");
            return;
        }
        if (connections_.size() >= static_cast<size_t>(config().worker_connections)) {
            LOG_WARN("%d worker_connections are not enough, closing a new connection",
                     config().worker_connections);
            ::close(fd);
            continue;
        }
        configure_client_socket(fd);
        adopt(std::make_unique<Connection>(*this, fd, peer, *server));
    }
}

void Worker::on_wake(struct ev_loop*, ev_io* w, int) {
    uint64_t count;
    // Reading resets the eventfd; the mailbox, not the count, says what happened.
    if (::read(w->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        LOG_ALERT_ERRNO("read(eventfd)");
    static_cast<Worker*>(w->data)->drain_mailbox();
}

void Worker::drain_mailbox() {
    bool overflowed = false;
    events_.clear();
    store().drain_mailbox(slot(), events_, overflowed);
    for (shm::Store::Event& event : events_) deliver(event);
    if (overflowed) {
        LOG_WARN("mailbox of slot %d overflowed, resynchronising held subscribers", slot());
        resync_all();
    }
}

namespace {

bool is_after(const shm::MessageId& a, const shm::MessageId& b) {
    return a.time > b.time || (a.time == b.time && a.tag > b.tag);
}

}  // namespace

// Offers every connection waiting on `uid` to `answer`, which answers and
// unholds it (returning true) or leaves it waiting. The list is walked in
// place rather than copied (a copy costs a node per subscriber per message):
// answering a connection erases only its own node, and unhold() keeps the
// channel's entry while the walk lasts.
template <typename Answer>
uint32_t Worker::answer_waiters(uint64_t uid, Answer answer) {
    auto found = waiters_.find(uid);
    if (found == waiters_.end())
        return 0;
    // A reference stays valid across rehashes (only iterators do not).
    std::list<Connection*>& waiting = found->second.connections;
    walking_ = uid;
    uint32_t n = 0;
    for (auto it = waiting.begin(); it != waiting.end();) {
        Connection* c = *it++;
        n += answer(*c) ? 1 : 0;
    }
    walking_ = 0;
    if (waiting.empty())
        waiters_.erase(uid);
    return n;
}

void Worker::deliver(const shm::Store::Event& event) {
    auto found = waiters_.find(event.uid);
    shm::MessagePin pin = event.message;
    if (found == waiters_.end()) {
        store().unpin(pin);
        return;
    }
    std::string key = found->second.key;
    switch (event.kind) {
        case shm::Store::Event::Published: {
            Payload payload = make_payload(store().view(pin));
            DeliveryHeads heads(payload);
            uint32_t n = answer_waiters(event.uid, [&](Connection& c) {
                if (!is_after(payload.id, c.held()->since))
                    return false;
                c.unhold();
                respond_with_payload(c, payload, heads);
                return true;
            });
            store().record_delivery(key, event.uid, slot(), n, pin, now_ms());
            store().unpin(pin);
            break;
        }
        case shm::Store::Event::Deleted:
            answer_waiters(event.uid, [](Connection& c) {
                c.unhold();
                respond_text(c, 410, kGoneText);
                return true;
            });
            break;
        case shm::Store::Event::Kick: {
            uint32_t n = answer_waiters(event.uid, [&](Connection& c) {
                if (c.held()->seq >= event.before_seq)
                    return false;
                c.unhold();
                respond_text(c, 409, kKickedText);
                return true;
            });
            store().release_waiters(key, event.uid, slot(), n, now_ms());
            break;
        }
    }
}

// After lost events: every held subscriber asks the store what it missed
// (a deletion, a newer `last` subscriber, or its next message).
void Worker::resync_all() {
    std::vector<std::pair<uint64_t, std::string>> channels;
    for (auto& [uid, waiters] : waiters_) channels.emplace_back(uid, waiters.key);
    for (auto& [uid, key] : channels) {
        answer_waiters(uid, [&](Connection& c) { return resync(c, key, uid); });
    }
}

bool Worker::resync(Connection& c, const std::string& key, uint64_t uid) {
    auto next = store().find_next(key, uid, c.held()->since, now_ms(), slot());
    bool answered = true;
    if (next.status == shm::Status::Gone) {
        c.unhold();
        respond_text(c, 410, kGoneText);
    } else if (c.held()->seq < next.kick_before_seq) {
        c.release_hold();
        respond_text(c, 409, kKickedText);
    } else if (next.message) {
        Payload payload = make_payload(store().view(next.message));
        DeliveryHeads heads(payload);
        c.unhold();
        respond_with_payload(c, payload, heads);
        store().record_delivery(key, uid, slot(), 1, next.message, now_ms());
    } else {
        answered = false;
    }
    store().unpin(next.message);
    return answered;
}

void Worker::on_expire_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Worker*>(w->data);
    self->store().expire(self->now_ms());
}

void Worker::on_stop_signal(struct ev_loop* loop, ev_signal*, int) {
    ev_break(loop, EVBREAK_ALL);
}

void Worker::on_quit_signal(struct ev_loop*, ev_signal* w, int) {
    static_cast<Worker*>(w->data)->begin_graceful_shutdown();
}

void Worker::on_reopen_signal(struct ev_loop*, ev_signal*, int) {
    access_log::reopen();
    std::string err = log::reopen();
    if (!err.empty())
        LOG_ERROR("reopening the error log: %s", err.c_str());
}

void Worker::on_shutdown_timer(struct ev_loop* loop, ev_timer*, int) {
    LOG_WARN("worker_shutdown_timeout passed, closing the remaining connections");
    ev_break(loop, EVBREAK_ALL);
}

// For good (a graceful stop): the other workers stop counting on this one
// when they balance their accepts.
void Worker::stop_accepting() {
    for (ev_io& w : accept_watchers_) ev_io_stop(loop_, &w);
    store().set_accepting(slot(), false);
}

// QUIT: accept nothing more, answer held subscribers with 304 (they re-poll
// elsewhere), let requests in flight finish, close idle connections.
void Worker::begin_graceful_shutdown() {
    if (shutting_down_)
        return;
    shutting_down_ = true;
    stop_accepting();
    ev_timer_set(&shutdown_timer_, config().worker_shutdown_timeout.count() / 1000.0, 0.);
    ev_timer_start(loop_, &shutdown_timer_);
    std::vector<Connection*> open;
    for (auto& [c, owned] : connections_) open.push_back(c);
    for (Connection* c : open) {
        if (c->held()) {
            c->release_hold();
            respond_not_modified(*c);
        } else {
            c->close_if_idle();
        }
    }
}

void Worker::finish_if_idle() {
    if (connections_.empty())
        ev_break(loop_, EVBREAK_ALL);
}

int run(const Context& context) {
    if (const char* error = crash::install(); *error != '\0')
        LOG_ALERT("%s", error);
    struct ev_loop* loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        LOG_ALERT("ev_default_loop() failed");
        return kExitFatal;
    }
    signal(SIGPIPE, SIG_IGN);
    {
        Worker worker(context, loop);
        worker.start();
        ev_run(loop, 0);
    }
    return kExitOk;
}

}  // namespace pushrelay::worker
