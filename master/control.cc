#include "master/control.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
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

// pid from the file, or -1 when it is missing or not a number.
pid_t read_pid(const std::string& pid_path) {
    std::ifstream in(pid_path);
    long pid = -1;
    if (!(in >> pid) || pid <= 0)
        return -1;
    return static_cast<pid_t>(pid);
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
