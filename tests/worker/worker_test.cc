// worker::run in a forked child, wired as the master wires it (a listening socket, the segment,
// the eventfds), without the master: a publish reaches a held subscriber, and QUIT answers the
// held ones 304 and ends the worker with status 0.
#include "worker/worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <variant>

#include "limit/zone_set.h"
#include "shm/segment.h"
#include "shm/store.h"

namespace pushrelay::worker {
namespace {

constexpr const char* kConf = R"(
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:1;
        location /pub { set $push_channel_id $arg_id; push_publisher; }
        location /sub { set $push_channel_id $arg_id; push_subscriber; }
    }
}
)";
constexpr int kWaitMs = 5000;

int listen_on_loopback(uint16_t& port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}

int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
}

// Reads until `marker` has arrived or the wait runs out; returns what came.
std::string read_until(int fd, std::string_view marker) {
    std::string got;
    char buf[4096];
    while (got.find(marker) == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, kWaitMs) <= 0)
            break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        got.append(buf, n);
    }
    return got;
}

struct WorkerTest : ::testing::Test {
    WorkerTest()
        : config(conf::load_string(kConf, "/tmp/worker_test.conf", "/tmp").config),
          segment(std::get<shm::Segment>(shm::Segment::create(1 << 20))),
          store(std::get<shm::Store>(shm::Store::open(segment))),
          zones(std::get<limit::ZoneSet>(limit::ZoneSet::build(*config, nullptr))) {
        listen_fd = listen_on_loopback(port);
        context = {
            config.get(), {{listen_fd, &config->servers.at(0), "test"}}, &store, &zones, 0, {}};
        context.wake_fds.fill(-1);
        context.wake_fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        store.slot_started(0);
    }
    ~WorkerTest() override {
        if (child > 0) {
            kill(child, SIGKILL);
            waitpid(child, nullptr, 0);
        }
        close(listen_fd);
        close(context.wake_fds[0]);
    }
    void start() {
        child = fork();
        ASSERT_GE(child, 0);
        if (child == 0)
            _exit(run(context));
    }
    // Sends a request on a new connection and waits until the store counts `n` waiters.
    int hold_subscriber(const char* channel, uint64_t n) {
        int fd = connect_to(port);
        std::string request =
            std::string("GET /sub?id=") + channel + " HTTP/1.1\r\nHost: x\r\n\r\n";
        EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
        for (int i = 0; i < kWaitMs && store.stats().subscribers < n; i++) usleep(1000);
        EXPECT_EQ(store.stats().subscribers, n);
        return fd;
    }
    int exit_status() {
        int status = -1;
        for (int i = 0; i < kWaitMs && waitpid(child, &status, WNOHANG) == 0; i++) usleep(1000);
        child = -1;
        return status;
    }

    std::unique_ptr<conf::Config> config;
    shm::Segment segment;
    shm::Store store;
    limit::ZoneSet zones;
    int listen_fd = -1;
    uint16_t port = 0;
    core::WorkerContext context;
    pid_t child = -1;
};

TEST_F(WorkerTest, APublishReachesAHeldSubscriber) {
    start();
    int sub = hold_subscriber("a", 1);
    int pub = connect_to(port);
    std::string post = "POST /pub?id=a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    ASSERT_EQ(write(pub, post.data(), post.size()), static_cast<ssize_t>(post.size()));
    EXPECT_EQ(read_until(pub, "\r\n\r\n").rfind("HTTP/1.1 201", 0), 0u);
    std::string got = read_until(sub, "hello");
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
    EXPECT_NE(got.find("\r\n\r\nhello"), std::string::npos) << got;
    close(sub);
    close(pub);
}

TEST_F(WorkerTest, QuitAnswersHeldSubscribers304AndExitsCleanly) {
    start();
    int first = hold_subscriber("b", 1);
    int second = hold_subscriber("c", 2);
    ASSERT_EQ(kill(child, SIGQUIT), 0);
    for (int fd : {first, second}) {
        std::string got = read_until(fd, "\r\n\r\n");
        EXPECT_EQ(got.rfind("HTTP/1.1 304", 0), 0u) << got;
        EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
        close(fd);
    }
    int status = exit_status();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), core::kWorkerExitOk);
    // Every waiter was given back before the worker went.
    EXPECT_EQ(store.stats().subscribers, 0u);
    EXPECT_TRUE(store.check().empty());
}

}  // namespace
}  // namespace pushrelay::worker
