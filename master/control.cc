#include "master/control.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/unique_fd.h"

namespace pushrelay::master {
namespace {

std::string errno_text(const std::string& call) {
    return call + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
}

int signal_number(const std::string& name) {
    if (name == "stop")
        return SIGTERM;
    if (name == "quit")
        return SIGQUIT;
    if (name == "reload")
        return SIGHUP;
    if (name == "upgrade")
        return SIGUSR2;
    return SIGUSR1;  // reopen
}

// What a pid file names, and which file it was: a master that rewrites its pid file makes a new
// one (write_pid_file renames a temp file over it), which is how -s upgrade tells a rolled-back
// upgrade from one not begun.
struct PidFile {
    pid_t pid = -1;  // -1 when the file is missing or holds no pid
    dev_t dev = 0;
    ino_t ino = 0;

    bool same_file(const PidFile& other) const { return dev == other.dev && ino == other.ino; }
};

PidFile read_pid_file(const std::string& pid_path) {
    PidFile file;
    core::UniqueFd fd(open(pid_path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (!fd || fstat(fd.get(), &st) < 0)
        return file;
    char text[32] = {};
    ssize_t n = read(fd.get(), text, sizeof text - 1);
    long pid = n > 0 ? std::strtol(text, nullptr, 10) : -1;
    if (pid > 0)
        file = {static_cast<pid_t>(pid), st.st_dev, st.st_ino};
    return file;
}

pid_t read_pid(const std::string& pid_path) {
    return read_pid_file(pid_path).pid;
}

// Whether `pid` has forked `children` processes. A kernel without /proc/<pid>/task/<pid>/children
// cannot tell: the pid file is then the only sign of a started master.
bool has_children(pid_t pid, int children) {
    std::string tid = std::to_string(pid);
    std::ifstream in("/proc/" + tid + "/task/" + tid + "/children");
    if (!in)
        return true;
    int count = 0;
    long child;
    while (in >> child) count++;
    return count >= children;
}

std::string describe_pid(const char* role, pid_t pid) {
    return std::string(role) + " process " + std::to_string(pid);
}

}  // namespace

std::string send_signal(const std::string& pid_path, const std::string& name) {
    pid_t pid = read_pid(pid_path);
    if (pid < 0)
        return "invalid or missing PID in \"" + pid_path + "\"";
    if (kill(pid, signal_number(name)) < 0)
        return errno_text("kill(" + std::to_string(pid) + ")");
    return "";
}

UpgradeOutcome upgrade_master(const std::string& pid_path, int children,
                              std::chrono::milliseconds wait) {
    const PidFile before = read_pid_file(pid_path);
    const pid_t old = before.pid;
    if (old < 0)
        return {kNoMaster,
                "no master process runs: invalid or missing PID in \"" + pid_path + "\""};
    if (!process_runs(old))
        return {kNoMaster, "no master process runs: " + describe_pid("process", old) +
                               " named by \"" + pid_path + "\" is gone"};
    pid_t previous = read_pid(pid_path + ".oldbin");
    if (previous > 0 && process_runs(previous))
        return {kUpgradeFailed, "an upgrade is under way: " + describe_pid("master", previous) +
                                    " is the old master; QUIT one of the two first"};
    if (kill(old, SIGUSR2) < 0)
        return {kUpgradeFailed, errno_text("kill(" + std::to_string(old) + ", SIGUSR2)")};
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
        PidFile now = read_pid_file(pid_path);
        if (now.pid > 0 && now.pid != old && process_runs(now.pid) &&
            has_children(now.pid, children)) {
            if (kill(old, SIGQUIT) < 0)
                return {kUpgradeFailed, errno_text("kill(" + std::to_string(old) + ", SIGQUIT)")};
            return {kUpgraded, describe_pid("new master", now.pid) + " took over; the old " +
                                   describe_pid("master", old) + " finishes gracefully"};
        }
        if (now.pid == old && !now.same_file(before))
            return {kUpgradeFailed, "the upgrade failed and " + describe_pid("master", old) +
                                        " serves on; its error log says why"};
        if (!process_runs(old))
            return {kUpgradeFailed, describe_pid("master", old) + " exited during the upgrade"};
        usleep(10000);  // a poll: the new master is not our child, nothing to wait on
    }
    return {kUpgradeFailed,
            "no new master took over within " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
                " s; the error log of " + describe_pid("master", old) + " says why"};
}

// By /proc/<pid>/stat's state.
bool process_runs(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return false;
    auto end_of_name = line.rfind(')');
    if (end_of_name == std::string::npos || end_of_name + 2 >= line.size())
        return false;
    char state = line[end_of_name + 2];
    return state != 'Z' && state != 'X';
}

std::string write_pid_file(const std::string& pid_path) {
    std::string tmp = pid_path + ".tmp";
    core::UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd)
        return errno_text("open(\"" + tmp + "\")");
    std::string text = std::to_string(getpid()) + "\n";
    bool ok = write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (!ok)
        return errno_text("write(\"" + tmp + "\")");
    if (rename(tmp.c_str(), pid_path.c_str()) < 0)
        return errno_text("rename(\"" + pid_path + "\")");
    return "";
}

void remove_pid_file(const std::string& pid_path) {
    if (read_pid(pid_path) == getpid())
        unlink(pid_path.c_str());
}

std::string daemonize() {
    pid_t pid = fork();
    if (pid < 0)
        return errno_text("fork()");
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return errno_text("setsid()");
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        return errno_text("open(\"/dev/null\")");
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO)
        close(null);
    umask(022);
    return "";
}

}  // namespace pushrelay::master
