#include "master/master.h"

#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <random>

#include "conf/conf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/worker_context.h"
#include "limit/zone_set.h"
#include "master/control.h"
#include "master/listeners.h"
#include "master/notify.h"
#include "master/options.h"
#include "master/startup.h"
#include "master/upgrade.h"
#include "shm/segment.h"
#include "shm/store.h"

namespace pushrelay::master {
namespace {

// How long `-s upgrade` waits for the new master to start: it maps the handed-over segment and
// forks, milliseconds of work; one that takes this long is stuck, and the package restarts.
constexpr std::chrono::seconds kUpgradeWait{30};

// Set by the signal handlers, acted on by Master::run after sigsuspend().
volatile sig_atomic_t got_child, got_terminate, got_quit, got_reload, got_reopen, got_alarm,
    got_upgrade;

void on_signal(int signo) {
    switch (signo) {
        case SIGCHLD:
            got_child = 1;
            break;
        case SIGTERM:
        case SIGINT:
            got_terminate = 1;
            break;
        case SIGQUIT:
            got_quit = 1;
            break;
        case SIGHUP:
            got_reload = 1;
            break;
        case SIGUSR1:
            got_reopen = 1;
            break;
        case SIGALRM:
            got_alarm = 1;
            break;
        case SIGUSR2:
            got_upgrade = 1;
            break;
    }
}

constexpr int kHandledSignals[] = {SIGCHLD, SIGTERM, SIGINT,  SIGQUIT,
                                   SIGHUP,  SIGUSR1, SIGUSR2, SIGALRM};

sigset_t handled_signal_set() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kHandledSignals) sigaddset(&set, s);
    return set;
}

void install_signal_handlers() {
    sigset_t set = handled_signal_set();
    sigaddset(&set, core::kRetireSignal);  // blocked, not handled: for the children (see there)
    sigprocmask(SIG_BLOCK, &set, nullptr);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : kHandledSignals) sigaction(s, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

// A child starts with the default dispositions and nothing blocked, so that
// libev's own signal watchers in the worker see everything.
void restore_default_signals() {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s : kHandledSignals) sigaction(s, &sa, nullptr);
    sigset_t set = handled_signal_set();
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

void arm_alarm(conf::Millis after) {
    itimerval it{};
    it.it_value.tv_sec = after.count() / 1000;
    it.it_value.tv_usec = (after.count() % 1000) * 1000;
    if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
        it.it_value.tv_usec = 1000;
    if (setitimer(ITIMER_REAL, &it, nullptr) < 0)
        LOG_ALERT_ERRNO("setitimer()");
}

void raise_fd_limit(const conf::Config& config) {
    if (!config.worker_rlimit_nofile)
        return;
    rlimit rl{*config.worker_rlimit_nofile, *config.worker_rlimit_nofile};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        LOG_ALERT_ERRNO("setrlimit(RLIMIT_NOFILE)");
    }
}

// A node's id in Redis mode (scale-out.md "Processes and connections"): random at every start,
// so a restarted node never takes over its predecessor's leases (they lapse on their own). 53
// bits, so that the Lua scripts hold it exactly in a number (a K frame carries it). A binary
// upgrade hands it over: the node goes on, and both masters' processes must be one node.
std::uint64_t draw_node_id() {
    std::random_device device;
    const std::uint64_t bits = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    return bits & ((std::uint64_t{1} << 53) - 1);
}

void notify(const std::string& state) {
    std::string err = notify_systemd(state);
    if (!err.empty())
        LOG_ERROR("%s", err.c_str());
}

// What start() sets up before the Master runs, besides the conf and the segment.
struct Launch {
    Options options;
    Invocation invocation;
    std::string pid_path;
    // Set when an old master handed over (USR2): the wake eventfds and the relay socketpair to
    // reuse, and its pid.
    std::optional<std::vector<int>> inherited_wake_fds;
    std::optional<std::array<int, 2>> inherited_relay_fds;
    pid_t old_master = 0;
    std::uint64_t node_id = 0;
};

class Master {
  public:
    // `store` is bound to `segment`'s mapping, which moving the Segment object leaves in place.
    Master(Launch launch, std::unique_ptr<conf::Config> config, shm::Segment segment,
           shm::Store store, limit::ZoneSet limit_zones, std::vector<core::Listener> listeners,
           Children children)
        : options_(std::move(launch.options)),
          invocation_(std::move(launch.invocation)),
          pid_path_(std::move(launch.pid_path)),
          inherited_wake_fds_(std::move(launch.inherited_wake_fds)),
          inherited_relay_fds_(launch.inherited_relay_fds),
          old_master_(launch.old_master),
          config_(std::move(config)),
          segment_(std::move(segment)),
          store_(std::move(store)),
          limit_zones_(std::move(limit_zones)),
          listeners_(std::move(listeners)),
          children_(children),
          node_id_(launch.node_id) {}

    Master(const Master&) = delete;
    Master& operator=(const Master&) = delete;

    // Forks the workers and supervises them until told to stop. Exit status.
    int run();

  private:
    struct WorkerProcess {
        pid_t pid = 0;  // 0: the slot is free
        bool stopping = false;
    };

    bool create_wake_fds();
    bool create_relay_socket();
    bool spawn(int slot);
    void respawn(int slot);
    void spawn_relay();
    void retire_relay();
    bool reap_relay(pid_t pid, int status);
    bool reap_new_master(pid_t pid, int status);
    void take_pid_file_back();
    void sweep_old_masters_slots();
    void reap_children();
    void signal_workers(int signo);
    bool any_worker_alive() const;
    void stop(int signo, conf::Millis grace);
    void spawn_generation();
    void reload();
    bool apply_reloaded_conf(std::unique_ptr<conf::Config> fresh);
    void upgrade();
    void notify_stopping();
    std::string oldbin_path() const { return pid_path_ + ".oldbin"; }

    Options options_;
    Invocation invocation_;
    std::string pid_path_;
    std::optional<std::vector<int>> inherited_wake_fds_;
    std::optional<std::array<int, 2>> inherited_relay_fds_;
    pid_t old_master_ = 0;  // the master that handed over to this one, if any
    pid_t new_master_ = 0;  // the master this one started on USR2, while it runs
    std::unique_ptr<conf::Config> config_;
    shm::Segment segment_;
    shm::Store store_;
    limit::ZoneSet limit_zones_;  // config_'s; workers of older generations keep their own maps
    std::vector<core::Listener> listeners_;
    Children children_;
    std::array<int, shm::kMaxWorkerSlots> wake_fds_{};
    // Redis mode: workers write their asks to relay_fds_[1], the relay reads relay_fds_[0]. The
    // master keeps both, so asks sent while the relay restarts wait for the new one; an upgrade
    // hands them over, so both masters' workers ask whichever relay runs.
    int relay_fds_[2] = {-1, -1};
    std::uint64_t node_id_;
    pid_t relay_pid_ = 0;                 // 0: none running
    std::vector<pid_t> retiring_relays_;  // replaced by a reload, exiting
    std::array<WorkerProcess, shm::kMaxWorkerSlots> workers_{};
    bool shutting_down_ = false;
};

bool Master::create_wake_fds() {
    // Shared with the old master's workers, which both generations' publishes must wake.
    if (inherited_wake_fds_) {
        std::copy(inherited_wake_fds_->begin(), inherited_wake_fds_->end(), wake_fds_.begin());
        return true;
    }
    for (int& fd : wake_fds_) {
        fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            LOG_ERROR("eventfd() failed: %s", std::strerror(errno));
            return false;
        }
    }
    return true;
}

bool Master::create_relay_socket() {
    if (inherited_relay_fds_) {
        relay_fds_[0] = (*inherited_relay_fds_)[0];
        relay_fds_[1] = (*inherited_relay_fds_)[1];
        return true;
    }
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, relay_fds_) < 0) {
        LOG_ERROR("socketpair() for the Redis relay failed: %s", std::strerror(errno));
        return false;
    }
    return true;
}

void Master::spawn_relay() {
    pid_t pid = fork();
    if (pid < 0) {
        LOG_ALERT_ERRNO("fork()");
        return;
    }
    if (pid == 0) {
        restore_default_signals();
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(core::kWorkerExitOk);
        prctl(PR_SET_NAME, "pushrelay:relay");
        core::RelayContext context{config_.get(), &store_, wake_fds_, node_id_, relay_fds_[0]};
        _exit(children_.relay(context));
    }
    relay_pid_ = pid;
    LOG_NOTICE("start redis relay process %d (node %016llx)", static_cast<int>(pid),
               static_cast<unsigned long long>(node_id_));
}

// A reload replaces the relay (its conf may have changed); the old one stops at once. Until it
// has, both insert the same frames, which the store takes once (by id).
void Master::retire_relay() {
    if (relay_pid_ == 0)
        return;
    if (kill(relay_pid_, SIGTERM) < 0 && errno != ESRCH)
        LOG_ALERT_ERRNO("kill(relay)");
    retiring_relays_.push_back(relay_pid_);
    relay_pid_ = 0;
}

// Whether `pid` was a relay; the current one is restarted unless the master is stopping. Any
// relay's exit is announced on the socket: another relay running (a reload's new one, or the
// other master's during an upgrade) takes on the channels it leaves unfed.
bool Master::reap_relay(pid_t pid, int status) {
    auto retired = std::find(retiring_relays_.begin(), retiring_relays_.end(), pid);
    if (retired != retiring_relays_.end()) {
        retiring_relays_.erase(retired);
        children_.relay_gone(relay_fds_[1]);
        return true;
    }
    if (pid != relay_pid_)
        return false;
    relay_pid_ = 0;
    children_.relay_gone(relay_fds_[1]);
    if (WIFSIGNALED(status))
        LOG_PRINT(shutting_down_ ? log::Level::Notice : log::Level::Alert,
                  "redis relay process %d exited on signal %d", static_cast<int>(pid),
                  WTERMSIG(status));
    else
        LOG_NOTICE("redis relay process %d exited with code %d", static_cast<int>(pid),
                   WEXITSTATUS(status));
    if (!shutting_down_ && config_->redis.enabled())
        spawn_relay();
    return true;
}

// Whether a worker was forked on `slot`: not when another master's worker holds it (during an
// upgrade), nor when fork() fails.
bool Master::spawn(int slot) {
    // Before fork(): whichever process runs first, a status answer already counts this worker.
    if (!store_.slot_started(slot))
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        LOG_ALERT_ERRNO("fork()");
        store_.reset_slot(slot, core::wall_clock_ms());
        return false;
    }
    if (pid == 0) {
        restore_default_signals();
        // A worker must not outlive its master: nothing would reap or replace it.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(core::kWorkerExitOk);
        log::set_process_tag(slot);
        core::WorkerContext context{config_.get(), listeners_, &store_,  &limit_zones_,
                                    slot,          wake_fds_,  node_id_, relay_fds_[1]};
        _exit(children_.worker(context));
    }
    workers_[slot] = {pid, false};
    store_.set_slot_worker(slot, pid);
    LOG_NOTICE("start worker process %d in slot %d", static_cast<int>(pid), slot);
    return true;
}

// Replaces a worker that died, in its slot unless the other master of an upgrade took it since.
void Master::respawn(int slot) {
    if (spawn(slot))
        return;
    for (int free = 0; free < shm::kMaxWorkerSlots; free++)
        if (workers_[free].pid == 0 && spawn(free))
            return;
    LOG_ALERT("no free slot to replace the worker of slot %d", slot);
}

// Whether `pid` was the master this one started on USR2. It exits when its binary fails to start
// (or refuses the segment), or when the operator rolls an upgrade back by stopping it: either
// way this master is the master again, under the pid file's own name.
bool Master::reap_new_master(pid_t pid, int status) {
    if (new_master_ == 0 || pid != new_master_)
        return false;
    new_master_ = 0;
    take_pid_file_back();
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    LOG_PRINT(clean ? log::Level::Notice : log::Level::Alert,
              "new master process %d exited with %s %d; this master %d serves on",
              static_cast<int>(pid), WIFSIGNALED(status) ? "signal" : "code",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
              static_cast<int>(getpid()));
    return true;
}

// After an upgrade that ended here: the pid file names this master again. Written anew, not
// renamed back from `.oldbin`: `-s upgrade` knows the upgrade failed by a new file.
void Master::take_pid_file_back() {
    std::string err = write_pid_file(pid_path_);
    if (!err.empty())
        LOG_ALERT("writing the pid file back: %s", err.c_str());
    unlink(oldbin_path().c_str());
}

// The old master of an upgrade is gone. Told to QUIT, it gave back its workers' slots itself;
// killed, it left them taken, and its workers stop on their own (their parent-death signal).
// Gives back each such slot whose worker no longer runs, and looks again every 100 ms until
// none is left.
void Master::sweep_old_masters_slots() {
    if (old_master_ == 0 || getppid() == old_master_)
        return;
    int running = 0;
    for (int slot = 0; slot < shm::kMaxWorkerSlots; slot++) {
        std::optional<std::int32_t> pid = store_.slot_worker(slot);
        if (!pid || workers_[slot].pid != 0)
            continue;
        if (*pid != 0 && process_runs(*pid)) {
            running++;
            continue;
        }
        LOG_NOTICE("slot %d of the old master's worker process %d is free again", slot,
                   static_cast<int>(*pid));
        store_.reset_slot(slot, core::wall_clock_ms());
    }
    if (running > 0)
        arm_alarm(std::chrono::milliseconds(100));
    else
        old_master_ = 0;
}

void Master::reap_children() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (reap_relay(pid, status) || reap_new_master(pid, status))
            continue;
        for (int slot = 0; slot < shm::kMaxWorkerSlots; slot++) {
            WorkerProcess& w = workers_[slot];
            if (w.pid != pid)
                continue;
            bool expected = w.stopping || shutting_down_;
            if (WIFSIGNALED(status)) {
                LOG_PRINT(expected ? log::Level::Notice : log::Level::Alert,
                          "worker process %d exited on signal %d", static_cast<int>(pid),
                          WTERMSIG(status));
            } else {
                LOG_NOTICE("worker process %d exited with code %d", static_cast<int>(pid),
                           WEXITSTATUS(status));
            }
            w = {};
            // Its waiters are gone with it: their counts and undrained events must go too, and
            // so must the limit_conn counts of its requests.
            store_.reset_slot(slot, core::wall_clock_ms());
            limit_zones_.reset_slot(slot);
            bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == core::kWorkerExitFatal;
            if (!expected && !fatal)
                respawn(slot);
        }
    }
    sweep_old_masters_slots();
}

void Master::signal_workers(int signo) {
    // The relay holds no client: any stop ends it at once (SIGUSR1 only reopens logs).
    const int relay_signo = signo == SIGKILL ? SIGKILL : SIGTERM;
    if (relay_pid_ != 0 && signo != SIGUSR1 && kill(relay_pid_, relay_signo) < 0 && errno != ESRCH)
        LOG_ALERT_ERRNO("kill(relay)");
    for (WorkerProcess& w : workers_) {
        if (w.pid == 0)
            continue;
        w.stopping = signo != SIGUSR1;
        if (kill(w.pid, signo) < 0 && errno != ESRCH) {
            LOG_ALERT_ERRNO("kill(worker)");
        }
    }
}

bool Master::any_worker_alive() const {
    if (relay_pid_ != 0 || !retiring_relays_.empty())
        return true;
    for (const WorkerProcess& w : workers_)
        if (w.pid != 0)
            return true;
    return false;
}

// Asks every worker to stop with `signo`, waits up to `grace`, then kills
// whatever is left.
void Master::stop(int signo, conf::Millis grace) {
    shutting_down_ = true;
    signal_workers(signo);
    got_alarm = 0;
    arm_alarm(grace);
    sigset_t none;
    sigemptyset(&none);
    while (any_worker_alive()) {
        sigsuspend(&none);
        if (got_child) {
            got_child = 0;
            reap_children();
        }
        if (got_alarm) {
            got_alarm = 0;
            LOG_WARN("workers still running after %lld ms, killing them",
                     static_cast<long long>(grace.count()));
            signal_workers(SIGKILL);
        }
        // A second TERM during a graceful stop makes it a fast one.
        if (got_terminate && signo != SIGTERM) {
            got_terminate = 0;
            signo = SIGTERM;
            signal_workers(SIGTERM);
        }
    }
}

// Starts worker_processes workers in free slots (the slots of a previous
// generation, or of the other master during an upgrade, stay taken until
// their workers have exited).
void Master::spawn_generation() {
    int started = 0;
    for (int slot = 0; slot < shm::kMaxWorkerSlots && started < config_->worker_processes; slot++) {
        if (workers_[slot].pid == 0 && spawn(slot))
            started++;
    }
    if (started < config_->worker_processes) {
        LOG_ALERT(
            "only %d of %d workers started: all %d slots are taken by exiting workers or "
            "another master's",
            started, config_->worker_processes, shm::kMaxWorkerSlots);
    }
}

// HUP: a new generation of workers on the new conf, then the old one stops
// gracefully. The listening sockets stay open in the master throughout, and
// the shared segment (channels, messages, counts) is kept as it is.
void Master::reload() {
    LOG_NOTICE("reconfiguring");
    notify(reloading_state());
    conf::LoadResult loaded =
        conf::load_file(options_.conf_path, options_.prefix, options_.directives);
    if (!loaded) {
        LOG_ERROR("reload failed, keeping the running configuration: %s",
                  loaded.error.describe().c_str());
    } else if (apply_reloaded_conf(std::move(loaded.config))) {
        store_.note_reload();
        LOG_NOTICE("reloaded: %d new workers, old workers finish gracefully",
                   config_->worker_processes);
    }
    notify("READY=1");
}

bool Master::apply_reloaded_conf(std::unique_ptr<conf::Config> fresh) {
    if (fresh->push_max_reserved_memory != config_->push_max_reserved_memory) {
        LOG_WARN("push_max_reserved_memory cannot change without a restart; keeping %llu bytes",
                 static_cast<unsigned long long>(config_->push_max_reserved_memory));
        fresh->push_max_reserved_memory = config_->push_max_reserved_memory;
    }
    // Zones declared alike keep their mappings, so counts and buckets hold across the reload.
    auto zones = limit::ZoneSet::build(*fresh, &limit_zones_);
    if (auto* err = std::get_if<std::string>(&zones)) {
        LOG_ERROR("reload failed, keeping the running configuration: %s", err->c_str());
        return false;
    }
    auto listeners = reopen_listeners(*fresh, listeners_);
    if (auto* err = std::get_if<std::string>(&listeners)) {
        LOG_ERROR("reload failed, keeping the running configuration: %s", err->c_str());
        return false;
    }
    std::string err = log::open(fresh->error_log_path, fresh->error_log_level);
    if (!err.empty())
        LOG_ERROR("reload: error log: %s", err.c_str());
    raise_fd_limit(*fresh);
    auto& fresh_listeners = std::get<std::vector<core::Listener>>(listeners);
    close_unused_listeners(listeners_, fresh_listeners);
    listeners_ = std::move(fresh_listeners);
    limit_zones_ = std::move(std::get<limit::ZoneSet>(zones));
    config_ = std::move(fresh);
    store_.set_subscriber_share(config_->subscriber_share_bytes());
    std::vector<pid_t> old;
    for (WorkerProcess& w : workers_) {
        if (w.pid == 0)
            continue;
        w.stopping = true;
        old.push_back(w.pid);
    }
    spawn_generation();
    retire_relay();
    if (config_->redis.enabled())
        spawn_relay();
    for (pid_t pid : old) {
        if (kill(pid, core::kRetireSignal) < 0 && errno != ESRCH)
            LOG_ALERT_ERRNO("kill(SIGWINCH)");
    }
    return true;
}

// USR2: starts the binary again on the sockets and the segment of this master, which keeps
// serving alongside until it is told to QUIT (upgrade.h). As nginx, the pid file becomes
// `.oldbin` so that the new master can write its own.
void Master::upgrade() {
    if (new_master_ != 0) {
        LOG_WARN("upgrade ignored: new master process %d is running; QUIT one of the two first",
                 static_cast<int>(new_master_));
        return;
    }
    if (old_master_ != 0 && getppid() == old_master_) {
        LOG_WARN("upgrade ignored: the old master process %d still runs; QUIT it first",
                 static_cast<int>(old_master_));
        return;
    }
    if (rename(pid_path_.c_str(), oldbin_path().c_str()) < 0) {
        LOG_ALERT("upgrade failed: rename(\"%s\") to .oldbin: %s", pid_path_.c_str(),
                  std::strerror(errno));
        return;
    }
    Handover handover{listeners_,
                      segment_.fd(),
                      {wake_fds_.begin(), wake_fds_.end()},
                      std::array<int, 2>{relay_fds_[0], relay_fds_[1]},
                      node_id_};
    auto pid = exec_new_binary(invocation_, handover);
    if (auto* err = std::get_if<std::string>(&pid)) {
        LOG_ALERT("upgrade failed: %s", err->c_str());
        take_pid_file_back();
        return;
    }
    new_master_ = std::get<pid_t>(pid);
    LOG_NOTICE("upgrade: started %s as new master process %d", invocation_.path.c_str(),
               static_cast<int>(new_master_));
}

// Once a new master runs, systemd follows it (it sent MAINPID): a STOPPING from the old one would
// stop the service.
void Master::notify_stopping() {
    if (new_master_ == 0)
        notify("STOPPING=1");
}

int Master::run() {
    if (!create_wake_fds() || !create_relay_socket())
        return 1;
    // A handed-over segment keeps the server's start time: the service never stopped.
    if (old_master_ == 0)
        store_.set_started_ms(core::wall_clock_ms());
    store_.set_subscriber_share(config_->subscriber_share_bytes());
    if (config_->redis.enabled()) {
        LOG_NOTICE("Redis mode: %s, namespace \"%s\"",
                   config_->redis.urls.front().describe().c_str(), config_->redis.ns.c_str());
        spawn_relay();
    }
    spawn_generation();
    // When systemd hears READY: the sockets are bound and the workers forked. A daemon's stderr
    // is /dev/null by now.
    if (!config_->daemon)
        std::fprintf(stderr, "%s\n", startup_line(*config_, kVersion).c_str());
    notify(std::string("READY=1\nSTATUS=serving, ") + std::to_string(config_->worker_processes) +
           " workers\nMAINPID=" + std::to_string(getpid()));
    sigset_t none;
    sigemptyset(&none);
    for (;;) {
        sigsuspend(&none);
        if (got_child) {
            got_child = 0;
            reap_children();
        }
        if (got_terminate) {
            LOG_NOTICE("received stop signal, exiting");
            notify_stopping();
            stop(SIGTERM, std::chrono::seconds(3));
            break;
        }
        if (got_quit) {
            LOG_NOTICE("received quit signal, shutting down gracefully");
            notify_stopping();
            stop(SIGQUIT, config_->worker_shutdown_timeout + std::chrono::seconds(1));
            break;
        }
        if (got_reopen) {
            got_reopen = 0;
            std::string err = log::reopen();
            if (!err.empty())
                LOG_ERROR("reopening the error log: %s", err.c_str());
            signal_workers(SIGUSR1);
            LOG_NOTICE("reopened the log files");
        }
        if (got_reload) {
            got_reload = 0;
            reload();
        }
        if (got_upgrade) {
            got_upgrade = 0;
            upgrade();
        }
        if (got_alarm) {
            got_alarm = 0;
            sweep_old_masters_slots();
        }
    }
    close_listeners(listeners_);
    LOG_NOTICE("exit");
    return 0;
}

void print_error(const std::string& message) {
    std::fprintf(stderr, "pushrelay: [emerg] %s\n", message.c_str());
}

// A new master forks its relay (Redis mode) and its workers before it counts as started.
int signal_upgrade(const conf::Config& config) {
    const int children = config.worker_processes + (config.redis.enabled() ? 1 : 0);
    UpgradeOutcome outcome = upgrade_master(config.pid_path, children, kUpgradeWait);
    if (outcome.status == kUpgraded)
        std::fprintf(stderr, "pushrelay: %s\n", outcome.message.c_str());
    else
        print_error(outcome.message);
    return outcome.status;
}

// Loads the conf for -t, -s and a real start. Prints errors itself.
std::unique_ptr<conf::Config> load_conf(const Options& options) {
    conf::LoadResult loaded =
        conf::load_file(options.conf_path, options.prefix, options.directives);
    if (!loaded) {
        print_error(loaded.error.describe());
        return nullptr;
    }
    return std::move(loaded.config);
}

// The error of a start that must also reach the error log: a new master started by USR2 has the
// old one's stderr, /dev/null for a daemon.
int refuse(const std::string& message) {
    print_error(message);
    LOG_ERROR("%s", message.c_str());
    return 1;
}

// What an old master handed over in PUSHRELAY_INHERIT, taken out of the environment so that a
// later upgrade of this master describes its own. Nothing when this is a plain start.
std::variant<std::optional<Handover>, std::string> take_handover() {
    const char* text = std::getenv(kInheritVariable);
    if (text == nullptr)
        return std::optional<Handover>();
    auto handover = decode_handover(text);
    unsetenv(kInheritVariable);
    if (auto* err = std::get_if<std::string>(&handover))
        return *err;
    return std::optional(std::move(std::get<Handover>(handover)));
}

// The inherited sockets whose address the conf still has, plus the conf's new addresses bound;
// the others are closed.
std::variant<std::vector<core::Listener>, std::string> adopt_listeners(
    const conf::Config& config, const std::vector<core::Listener>& inherited) {
    auto listeners = reopen_listeners(config, inherited);
    if (auto* kept = std::get_if<std::vector<core::Listener>>(&listeners))
        close_unused_listeners(inherited, *kept);
    return listeners;
}

std::variant<shm::Segment, std::string> adopt_segment(const conf::Config& config, int fd) {
    auto segment = shm::Segment::adopt(fd);
    auto* adopted = std::get_if<shm::Segment>(&segment);
    if (adopted && adopted->size() != config.push_max_reserved_memory)
        LOG_WARN("push_max_reserved_memory cannot change on an upgrade; keeping %zu bytes",
                 adopted->size());
    return segment;
}

int start(const Options& options, Invocation invocation, std::unique_ptr<conf::Config> config,
          Children children) {
    std::string err = log::open(config->error_log_path, config->error_log_level);
    if (!err.empty()) {
        print_error(err);
        return 1;
    }
    auto taken = take_handover();
    if (auto* e = std::get_if<std::string>(&taken))
        return refuse(*e);
    std::optional<Handover> handover = std::move(std::get<std::optional<Handover>>(taken));
    const pid_t old_master = handover ? getppid() : 0;
    auto segment = handover ? adopt_segment(*config, handover->segment_fd)
                            : shm::Segment::create(config->push_max_reserved_memory);
    if (auto* e = std::get_if<std::string>(&segment))
        return refuse(
            (handover ? "adopting the shared segment: " : "creating the shared segment: ") + *e);
    auto store = shm::Store::open(std::get<shm::Segment>(segment));
    if (auto* e = std::get_if<std::string>(&store)) {
        // The old master keeps serving on its segment: starting this binary on an empty one
        // instead would split the channels between two stores until the old one stops, and lose
        // them then. The operator restarts deliberately (doc/decisions.md).
        return refuse(handover ? "handover refused, the old master serves on: " + *e
                               : "opening the store in the shared segment: " + *e);
    }
    // After the segment: a new master that refuses it must leave the old one's sockets as they
    // are (adopting gives them this conf's backlog and keepalive).
    auto listeners =
        handover ? adopt_listeners(*config, handover->listeners) : open_listeners(*config);
    if (auto* e = std::get_if<std::string>(&listeners))
        return refuse(*e);
    auto limit_zones = limit::ZoneSet::build(*config, nullptr);
    if (auto* e = std::get_if<std::string>(&limit_zones))
        return refuse("creating the limit zones: " + *e);
    // A new master stays the old one's child until that exits, so that it sees this one fail.
    if (config->daemon && !handover) {
        err = daemonize();
        if (!err.empty()) {
            print_error(err);
            return 1;
        }
    }
    raise_fd_limit(*config);
    install_signal_handlers();
    // The old master's death, however it comes, reaches this one as SIGCHLD: its workers' slots
    // may be left to give back (Master::sweep_old_masters_slots).
    if (handover && (prctl(PR_SET_PDEATHSIG, SIGCHLD) < 0 || getppid() != old_master))
        raise(SIGCHLD);
    std::string pid_path = config->pid_path;
    err = write_pid_file(pid_path);
    if (!err.empty()) {
        LOG_ERROR("%s", err.c_str());
        return 1;
    }
    if (handover)
        LOG_NOTICE("pushrelay/%s took over from master process %d, %d worker processes", kVersion,
                   static_cast<int>(old_master), config->worker_processes);
    else
        LOG_NOTICE("pushrelay/%s started, %d worker processes", kVersion, config->worker_processes);
    Launch launch{options, std::move(invocation), pid_path, std::nullopt, std::nullopt, 0, 0};
    if (handover) {
        launch.inherited_wake_fds = std::move(handover->wake_fds);
        launch.inherited_relay_fds = handover->relay_fds;
        launch.old_master = old_master;
    }
    launch.node_id = handover && handover->node_id ? *handover->node_id : draw_node_id();
    Master master(std::move(launch), std::move(config), std::move(std::get<shm::Segment>(segment)),
                  std::move(std::get<shm::Store>(store)),
                  std::move(std::get<limit::ZoneSet>(limit_zones)),
                  std::move(std::get<std::vector<core::Listener>>(listeners)), children);
    int status = master.run();
    // Each only if it still names this process: after an upgrade the pid file is the new
    // master's, and `.oldbin` this one's.
    remove_pid_file(pid_path);
    remove_pid_file(pid_path + ".oldbin");
    return status;
}

}  // namespace

int main(int argc, char** argv, Children children) {
    Invocation invocation = capture_invocation(argc, argv);
    auto parsed = parse_options(argc, argv);
    if (auto* err = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "pushrelay: %s\n\n%s", err->c_str(), usage().c_str());
        return 1;
    }
    Options options = std::get<Options>(parsed);
    if (options.show_help) {
        std::fputs(usage().c_str(), stderr);
        return 0;
    }
    if (options.show_version) {
        std::fprintf(stderr, "pushrelay version: pushrelay/%s\n", kVersion);
        if (options.show_build)
            std::fputs(build_info().c_str(), stderr);
        return 0;
    }
    resolve_paths(options);
    std::unique_ptr<conf::Config> config = load_conf(options);
    if (options.test_only) {
        const char* path = options.conf_path.c_str();
        if (!config) {
            std::fprintf(stderr, "pushrelay: configuration file %s test failed\n", path);
            return 1;
        }
        std::fprintf(stderr,
                     "pushrelay: the configuration file %s syntax is ok\n"
                     "pushrelay: configuration file %s test is successful\n",
                     path, path);
        return 0;
    }
    if (!config)
        return 1;
    if (options.signal == "upgrade")
        return signal_upgrade(*config);
    if (!options.signal.empty()) {
        std::string err = send_signal(config->pid_path, options.signal);
        if (!err.empty())
            print_error(err);
        return err.empty() ? 0 : 1;
    }
    return start(options, std::move(invocation), std::move(config), children);
}

}  // namespace pushrelay::master
