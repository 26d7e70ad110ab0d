// A real redis-server for the tests of redis/: started on a free loopback port in a temporary
// directory, with no persistence, and stopped (SIGTERM, then SIGKILL) when the object goes.
// Never a mock: shared/scale-out.md's scripts and connections are checked against Redis itself.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pushrelay::redis::testing {

class RedisServer {
  public:
    // Extra `redis-server` arguments (e.g. {"--requirepass", "x"}) are appended.
    explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        char pattern[] = "/tmp/pushrelay-redis-XXXXXX";
        if (!mkdtemp(pattern))
            throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        port_ = free_port();
        start();
    }
    ~RedisServer() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    int port() const { return port_; }
    const std::string& dir() const { return dir_; }

    // Starts it again on the same port and directory (after stop()).
    void start() {
        if (access(kBinary, X_OK) != 0)
            throw std::runtime_error(std::string(kBinary) +
                                     " is missing: apt-get install redis-server (make test-deps)");
        std::vector<std::string> args{kBinary,        "--port",    std::to_string(port_),
                                      "--bind",       "127.0.0.1", "--dir",
                                      dir_,           "--save",    "",
                                      "--appendonly", "no",        "--daemonize",
                                      "no",           "--logfile", dir_ + "/redis.log"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_ = fork();
        if (pid_ == 0) {
            std::vector<char*> argv;
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(kBinary, argv.data());
            _exit(127);
        }
        wait_accepting();
    }

    // SIGTERM, waited for (bounded), then SIGKILL.
    void stop() {
        if (pid_ <= 0)
            return;
        kill(pid_, SIGTERM);
        for (int i = 0; i < 500; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    // SIGKILL, waited for: a server that dies without closing anything cleanly.
    void kill_now() {
        if (pid_ <= 0)
            return;
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    // A loopback port nothing listens on now (for a Cluster bus port, say).
    static int free_port() {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        close(fd);
        return ntohs(addr.sin_port);
    }

    // SIGSTOP / SIGCONT: a Redis that stalls without closing its connections.
    void pause() const { kill(pid_, SIGSTOP); }
    void resume() const { kill(pid_, SIGCONT); }

  private:
    static constexpr const char* kBinary = "/usr/bin/redis-server";

    // Polls connect() until Redis listens: at most 10 s.
    void wait_accepting() const {
        for (int i = 0; i < 1000; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<uint16_t>(port_));
            const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            close(fd);
            if (up)
                return;
            if (waitpid(pid_, nullptr, WNOHANG) == pid_)
                throw std::runtime_error("redis-server exited at start; see " + dir_ +
                                         "/redis.log");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        throw std::runtime_error("redis-server did not listen within 10 s");
    }

    std::vector<std::string> extra_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace pushrelay::redis::testing
