// upstream::Pool and Call against real loopback sockets: a tiny origin runs in threads (one per
// accepted connection, each following the test's script), the client on a libev loop in the
// test's thread.
#include "upstream/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pushrelay::upstream {
namespace {

// ---- the origin side (blocking sockets, in threads) ----

void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return;  // the client went away; the test checks what it saw
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

// Reads one request (head and Content-Length body); "" when the connection closes first.
std::string read_request(int fd) {
    std::string got;
    char buf[4096];
    size_t need = std::string::npos;
    while (need == std::string::npos || got.size() < need) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            return "";
        }
        got.append(buf, static_cast<size_t>(n));
        size_t end = got.find("\r\n\r\n");
        if (need == std::string::npos && end != std::string::npos) {
            size_t length = 0;
            if (size_t cl = got.find("Content-Length: "); cl != std::string::npos && cl < end) {
                length = std::stoul(got.substr(cl + 16));
            }
            need = end + 4 + length;
        }
    }
    return got;
}

// Waits until the client closes the connection (recv() returns 0 or fails).
void wait_for_close(int fd) {
    char buf[4096];
    while (::recv(fd, buf, sizeof(buf), 0) > 0) {
    }
}

class TestOrigin {
  public:
    // `script` runs for each accepted connection, in its own thread, with the connection's index
    // (0 for the first accepted); the connection closes when it returns.
    using Script = std::function<void(int fd, int index)>;

    explicit TestOrigin(Script script, int backlog = 16) : script_(std::move(script)) {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sin);
        EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&sin), len), 0);
        EXPECT_EQ(::listen(listener_, backlog), 0);
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&origin_.address), &len);
        origin_.length = len;
        if (script_) {
            acceptor_ = std::thread([this] { accept_loop(); });
        }
    }
    ~TestOrigin() {
        ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
        if (acceptor_.joinable()) {
            acceptor_.join();
        }
        for (std::thread& t : connections_) {
            t.join();
        }
        ::close(listener_);
    }
    const Origin& origin() const { return origin_; }
    int accepted() const { return accepted_; }
    std::vector<std::string> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    // Reads a request and records it (for scripts that check what the client sent).
    std::string take_request(int fd) {
        std::string r = read_request(fd);
        std::lock_guard lock(mutex_);
        requests_.push_back(r);
        return r;
    }

  private:
    void accept_loop() {
        for (;;) {
            int fd = ::accept(listener_, nullptr, nullptr);
            if (fd < 0) {
                return;
            }
            int index = accepted_++;
            connections_.emplace_back([this, fd, index] {
                script_(fd, index);
                ::close(fd);
            });
        }
    }

    Script script_;
    int listener_ = -1;
    Origin origin_;
    std::atomic<int> accepted_{0};
    std::thread acceptor_;
    std::vector<std::thread> connections_;
    std::mutex mutex_;
    std::vector<std::string> requests_;
};

// ---- the client side ----

struct Recorder : Observer {
    ResponseHead head;
    int heads = 0;
    std::string body;
    bool ended = false;
    std::string error;
    std::function<void()> after_head;  // a test's action at on_head (cancel, pause)
    std::function<void(std::string_view)> after_body;

    void on_head(const ResponseHead& h) override {
        head = h;
        heads++;
        if (after_head) {
            after_head();
        }
    }
    void on_body(std::string_view bytes) override {
        body.append(bytes);
        if (after_body) {
            after_body(bytes);
        }
    }
    void on_end() override { ended = true; }
    void on_error(std::string_view reason) override { error = reason; }
    bool done() const { return ended || !error.empty(); }
};

struct ClientTest : ::testing::Test {
    struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
    ~ClientTest() override { ev_loop_destroy(loop); }

    // Runs the loop until `done` or `seconds` pass; false on the deadline.
    bool run_until(const std::function<bool()>& done, double seconds = 5) {
        ev_timer tick;
        ev_timer_init(
            &tick, [](struct ev_loop*, ev_timer*, int) {}, 0.005, 0.005);
        ev_timer_start(loop, &tick);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            ev_run(loop, EVRUN_ONCE);
        }
        ev_timer_stop(loop, &tick);
        return done();
    }
    void run_for(double seconds) {
        run_until([] { return false; }, seconds);
    }
    // Runs a first request to completion, then starts a second (on the pooled connection).
    std::unique_ptr<Call> second_request(Pool& pool, Recorder& second) {
        Recorder first;
        auto call = pool.start(get(), first);
        EXPECT_TRUE(run_until([&] { return first.done(); }));
        EXPECT_TRUE(first.ended) << first.error;
        call = pool.start(get(), second);
        EXPECT_TRUE(call->reused_connection());
        return call;
    }
    static Request get(std::string target = "/") {
        return Request{"GET", std::move(target), {{"Host", "origin"}}, {}};
    }
};

constexpr std::string_view kHello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

// Answers every request on the connection with `response`, until the client closes.
TestOrigin::Script answer_each(std::string response) {
    return [response](int fd, int) {
        while (!read_request(fd).empty()) {
            write_all(fd, response);
        }
    };
}

TEST_F(ClientTest, ContentLengthRequestVerbatim) {
    TestOrigin* self = nullptr;
    TestOrigin origin([&](int fd, int) {
        self->take_request(fd);
        write_all(fd, "HTTP/1.1 200 Fine\r\nX-B: 1\r\nx-b: 2\r\nContent-Length: 5\r\n\r\nhello");
        wait_for_close(fd);
    });
    self = &origin;
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    Request req{
        "POST", "/p?q=1", {{"Host", "app"}, {"X-Custom", "v"}, {"Content-Length", "99"}}, "body!"};
    auto call = pool.start(std::move(req), r);
    ASSERT_TRUE(run_until([&] { return r.done(); })) << "no end";
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.head.reason, "Fine");
    ASSERT_EQ(r.head.headers.size(), 3u);
    EXPECT_EQ(r.head.headers[1].name, "x-b");
    EXPECT_EQ(r.body, "hello");
    ASSERT_EQ(origin.requests().size(), 1u);
    // The caller's headers verbatim, its Content-Length replaced by the real one.
    EXPECT_EQ(origin.requests()[0],
              "POST /p?q=1 HTTP/1.1\r\nHost: app\r\nX-Custom: v\r\nContent-Length: 5\r\n\r\nbody!");
    EXPECT_EQ(pool.idle_connections(), 1u);
}

TEST_F(ClientTest, ChunkedIsDechunkedAndFlagged) {
    TestOrigin origin(answer_each(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_TRUE(r.head.chunked);
    EXPECT_EQ(r.body, "abcde");
    EXPECT_EQ(pool.idle_connections(), 1u);
}

TEST_F(ClientTest, CloseDelimitedIsNotPooled) {
    TestOrigin origin([](int fd, int) {
        read_request(fd);
        write_all(fd, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
    });
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_EQ(r.body, "until the end");
    EXPECT_EQ(pool.idle_connections(), 0u);
}

TEST_F(ClientTest, HeadAnd204And304HaveNoBody) {
    // One connection for all three: had the client waited for a body, the next would hang.
    TestOrigin origin([](int fd, int) {
        for (const char* response :
             {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n",
              "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"}) {
            if (read_request(fd).empty()) {
                return;
            }
            write_all(fd, response);
        }
        wait_for_close(fd);
    });
    Pool pool(loop, origin.origin(), {});
    const std::pair<const char*, int> cases[] = {{"HEAD", 200}, {"GET", 204}, {"GET", 304}};
    for (auto [method, status] : cases) {
        Recorder r;
        auto call = pool.start(Request{method, "/", {{"Host", "o"}}, {}}, r);
        ASSERT_TRUE(run_until([&] { return r.done(); })) << status;
        EXPECT_TRUE(r.ended) << r.error;
        EXPECT_EQ(r.head.status, status);
        EXPECT_TRUE(r.head.bodiless);
        EXPECT_TRUE(r.body.empty());
    }
    EXPECT_EQ(origin.accepted(), 1);
}

TEST_F(ClientTest, KeepAliveReusesOneConnection) {
    TestOrigin origin(answer_each(std::string(kHello)));
    Pool pool(loop, origin.origin(), {});
    for (int i = 0; i < 2; ++i) {
        Recorder r;
        auto call = pool.start(get(), r);
        ASSERT_TRUE(run_until([&] { return r.done(); }));
        EXPECT_TRUE(r.ended) << r.error;
        EXPECT_EQ(r.body, "hello");
        EXPECT_EQ(call->reused_connection(), i == 1);
    }
    EXPECT_EQ(origin.accepted(), 1);
    EXPECT_EQ(pool.connections_opened(), 1u);
}

TEST_F(ClientTest, ConnectionCloseIsNotPooled) {
    TestOrigin origin(
        answer_each("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_EQ(pool.idle_connections(), 0u);
}

TEST_F(ClientTest, PoolKeepsAtMostMaxAndClosesIdleAfterTimeout) {
    TestOrigin origin(answer_each(std::string(kHello)));
    Settings settings;
    settings.keepalive = 2;
    settings.keepalive_timeout = 0.2;
    Pool pool(loop, origin.origin(), settings);
    Recorder r[3];
    std::unique_ptr<Call> calls[3];
    for (int i = 0; i < 3; ++i) {
        calls[i] = pool.start(get(), r[i]);
    }
    ASSERT_TRUE(run_until([&] { return r[0].done() && r[1].done() && r[2].done(); }));
    for (const Recorder& one : r) {
        EXPECT_TRUE(one.ended) << one.error;
    }
    EXPECT_EQ(pool.connections_opened(), 3u);
    EXPECT_EQ(pool.idle_connections(), 2u);
    ASSERT_TRUE(run_until([&] { return pool.idle_connections() == 0; }, 2));
}

// Zero turns a limit off: keepalive 0 keeps no connection, keepalive_timeout 0 never expires one.
TEST_F(ClientTest, ZeroKeepaliveAndZeroIdleTimeout) {
    TestOrigin origin(answer_each(std::string(kHello)));
    for (bool pooled : {false, true}) {
        Settings settings;
        settings.keepalive = pooled ? 1 : 0;
        settings.keepalive_timeout = 0;
        Pool pool(loop, origin.origin(), settings);
        Recorder r;
        auto call = pool.start(get(), r);
        ASSERT_TRUE(run_until([&] { return r.done(); }));
        EXPECT_TRUE(r.ended) << r.error;
        run_for(0.1);
        EXPECT_EQ(pool.idle_connections(), pooled ? 1u : 0u);
    }
}

TEST_F(ClientTest, IdleConnectionClosedByOriginLeavesThePool) {
    TestOrigin origin([](int fd, int) {
        read_request(fd);
        write_all(fd, kHello);  // then close
    });
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    ASSERT_TRUE(run_until([&] { return pool.idle_connections() == 0; }, 2));
}

// The race every keep-alive client meets: the origin closes an idle connection just as a
// request goes out on it. Nothing of a response came, so the request goes again, once.
TEST_F(ClientTest, RetriesOnceWhenAReusedConnectionDiesBeforeAnyByte) {
    TestOrigin origin([](int fd, int index) {
        read_request(fd);
        write_all(fd, kHello);
        if (index == 0) {
            read_request(fd);  // the second request: closed without a byte of answer
            return;
        }
        wait_for_close(fd);
    });
    Pool pool(loop, origin.origin(), {});
    Recorder second;
    auto call = second_request(pool, second);
    ASSERT_TRUE(run_until([&] { return second.done(); }));
    EXPECT_TRUE(second.ended) << second.error;
    EXPECT_EQ(second.body, "hello");
    EXPECT_TRUE(call->retried());
    EXPECT_EQ(origin.accepted(), 2);
}

TEST_F(ClientTest, NoRetryAfterAResponseByte) {
    TestOrigin origin([](int fd, int index) {
        read_request(fd);
        write_all(fd, kHello);
        if (index == 0 && !read_request(fd).empty()) {
            write_all(fd, "HTTP/1.1 200");  // a byte came: the request may have had effects
        }
    });
    Pool pool(loop, origin.origin(), {});
    Recorder second;
    auto call = second_request(pool, second);
    ASSERT_TRUE(run_until([&] { return second.done(); }));
    EXPECT_EQ(second.error, "truncated response");
    EXPECT_FALSE(call->retried());
    EXPECT_EQ(origin.accepted(), 1);
}

TEST_F(ClientTest, NoRetryOnAFreshConnection) {
    TestOrigin origin([](int fd, int) { read_request(fd); });
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_EQ(r.error, "origin closed the connection without a response");
    EXPECT_EQ(origin.accepted(), 1);
}

TEST_F(ClientTest, ConnectRefused) {
    Origin closed;
    {
        TestOrigin gone(nullptr);  // a port that was just free: nobody listens after this
        closed = gone.origin();
    }
    Pool pool(loop, closed, {});
    Recorder r;
    auto call = pool.start(get(), r);
    EXPECT_FALSE(r.done());  // never from inside start()
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_EQ(r.error, "connection refused");
}

// A listener whose backlog is full drops further SYNs, so a connect() toward it stays pending:
// the connect timeout, on loopback, in bounded time.
TEST_F(ClientTest, ConnectTimeout) {
    TestOrigin full(nullptr, 0);  // never accepts
    std::vector<int> fillers;
    for (int i = 0; i < 16; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ::connect(fd, reinterpret_cast<const sockaddr*>(&full.origin().address),
                  full.origin().length);
        fillers.push_back(fd);
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 100) == 0) {
            break;  // this one hangs: the backlog is full
        }
    }
    Settings settings;
    settings.connect_timeout = 0.2;
    Pool pool(loop, full.origin(), settings);
    Recorder r;
    auto started = std::chrono::steady_clock::now();
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_EQ(r.error, "connect timeout");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    for (int fd : fillers) {
        ::close(fd);
    }
}

TEST_F(ClientTest, ReadTimeoutForTheHeadAndBetweenBodyReads) {
    TestOrigin origin([](int fd, int index) {
        read_request(fd);
        if (index == 1) {
            write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
        }
        wait_for_close(fd);
    });
    Settings settings;
    settings.read_timeout = 0.2;
    Pool pool(loop, origin.origin(), settings);
    for (const char* expected_body : {"", "half"}) {
        Recorder r;
        auto call = pool.start(get(), r);
        ASSERT_TRUE(run_until([&] { return r.done(); }));
        EXPECT_EQ(r.error, "read timeout");
        EXPECT_EQ(r.body, expected_body);
    }
    EXPECT_EQ(pool.idle_connections(), 0u);
}

TEST_F(ClientTest, MalformedResponse) {
    TestOrigin origin([](int fd, int) {
        read_request(fd);
        write_all(fd, "HTTP/1.1 2x0 Nope\r\n\r\n");
        wait_for_close(fd);
    });
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_TRUE(r.error.starts_with("malformed response")) << r.error;
    EXPECT_EQ(r.heads, 0);
}

// 64 MiB through a consumer that pauses after every piece and resumes a loop turn later: the
// whole body arrives intact while the client never holds more than one read buffer.
TEST_F(ClientTest, PauseResumeKeepsBufferingBounded) {
    constexpr size_t kTotal = 64 << 20;
    TestOrigin origin([](int fd, int) {
        read_request(fd);
        write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n");
        std::string block(1 << 20, '\0');
        for (size_t sent = 0; sent < kTotal; sent += block.size()) {
            for (size_t i = 0; i < block.size(); ++i) {
                block[i] = static_cast<char>((sent + i) % 251);
            }
            write_all(fd, block);
        }
        wait_for_close(fd);
    });
    Settings settings;
    settings.read_buffer = 16 * 1024;
    Pool pool(loop, origin.origin(), settings);
    std::unique_ptr<Call> call;
    size_t received = 0;
    size_t max_buffered = 0;
    bool corrupt = false;
    ev_timer resume;
    ev_init(&resume,
            [](struct ev_loop*, ev_timer* w, int) { static_cast<Call*>(w->data)->resume(); });
    Recorder r;
    r.after_body = [&](std::string_view bytes) {
        for (size_t i = 0; i < bytes.size(); ++i) {
            corrupt = corrupt || bytes[i] != static_cast<char>((received + i) % 251);
        }
        received += bytes.size();
        r.body.clear();  // checked as it comes, not kept
        call->pause();
        max_buffered = std::max(max_buffered, call->buffered_bytes());
        resume.data = call.get();
        ev_timer_set(&resume, 0, 0);
        ev_timer_start(loop, &resume);
    };
    call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }, 60));
    ev_timer_stop(loop, &resume);
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_EQ(received, kTotal);
    EXPECT_FALSE(corrupt);
    EXPECT_LE(max_buffered, settings.read_buffer);
}

TEST_F(ClientTest, PausedCallReadsNothingUntilResumed) {
    TestOrigin origin(answer_each(std::string(kHello)));
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    std::unique_ptr<Call> call;
    r.after_head = [&] { call->pause(); };
    call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.heads == 1; }));
    run_for(0.1);
    EXPECT_TRUE(r.body.empty());
    EXPECT_FALSE(r.done());
    call->resume();
    EXPECT_TRUE(r.body.empty());  // delivered from the loop, not from inside resume()
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_EQ(r.body, "hello");
}

TEST_F(ClientTest, CancelClosesTheConnection) {
    std::atomic<bool> origin_saw_close{false};
    TestOrigin origin([&](int fd, int) {
        read_request(fd);
        write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
        wait_for_close(fd);
        origin_saw_close = true;
    });
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    std::unique_ptr<Call> call;
    r.after_head = [&] { call.reset(); };  // the client went away
    call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.heads == 1; }));
    EXPECT_EQ(call, nullptr);
    ASSERT_TRUE(run_until([&] { return origin_saw_close.load(); }));
    EXPECT_EQ(pool.idle_connections(), 0u);
    EXPECT_TRUE(r.body.empty());
    EXPECT_FALSE(r.done());
}

TEST_F(ClientTest, CancelInTheMiddleOfTheBody) {
    std::atomic<bool> origin_saw_close{false};
    TestOrigin origin([&](int fd, int) {
        read_request(fd);
        write_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n");
        wait_for_close(fd);
        origin_saw_close = true;
    });
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    std::unique_ptr<Call> call;
    r.after_body = [&](std::string_view) { call.reset(); };
    call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return origin_saw_close.load(); }));
    EXPECT_EQ(r.body, "part");
    EXPECT_FALSE(r.done());
    EXPECT_EQ(pool.idle_connections(), 0u);
}

TEST_F(ClientTest, CallerConnectionCloseIsNotPooled) {
    TestOrigin origin(answer_each(std::string(kHello)));
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call =
        pool.start(Request{"GET", "/", {{"Host", "o"}, {"Connection", "te, close"}}, {}}, r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_EQ(pool.idle_connections(), 0u);
}

// A body larger than the socket buffers: written over several writable events.
TEST_F(ClientTest, LargeRequestBody) {
    TestOrigin* self = nullptr;
    TestOrigin origin([&](int fd, int) {
        std::string request = self->take_request(fd);
        write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(request.size()) +
                          "\r\n\r\n" + request);
        wait_for_close(fd);
    });
    self = &origin;
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    std::string body(8 << 20, 'x');
    auto call = pool.start(Request{"PUT", "/big", {{"Host", "o"}}, body}, r);
    ASSERT_TRUE(run_until([&] { return r.done(); }, 20));
    EXPECT_TRUE(r.ended) << r.error;
    EXPECT_TRUE(r.body.ends_with("\r\n\r\n" + body));
    EXPECT_NE(r.body.find("Content-Length: 8388608\r\n"), std::string::npos);
}

TEST_F(ClientTest, CancelAfterCompletionKeepsTheConnection) {
    TestOrigin origin(answer_each(std::string(kHello)));
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    std::unique_ptr<Call> call;
    call = pool.start(get(), r);
    ASSERT_TRUE(run_until([&] { return r.done(); }));
    call.reset();
    EXPECT_EQ(pool.idle_connections(), 1u);
}

TEST_F(ClientTest, CancelWhileConnecting) {
    TestOrigin origin(answer_each(std::string(kHello)));
    Pool pool(loop, origin.origin(), {});
    Recorder r;
    auto call = pool.start(get(), r);
    call.reset();
    run_for(0.05);
    EXPECT_FALSE(r.done());
}

TEST(ResolveOrigin, LiteralsAndNames) {
    Resolved v4 = resolve_origin("127.0.0.1", 3000);
    ASSERT_TRUE(v4.origin) << v4.error;
    EXPECT_EQ(origin_text(*v4.origin), "127.0.0.1:3000");
    Resolved v6 = resolve_origin("[::1]", 8080);
    ASSERT_TRUE(v6.origin) << v6.error;
    EXPECT_EQ(origin_text(*v6.origin), "[::1]:8080");
    Resolved name = resolve_origin("localhost", 80);
    EXPECT_TRUE(name.origin) << name.error;
    Resolved bad = resolve_origin("no-such-host.invalid", 80);
    EXPECT_FALSE(bad.origin);
    EXPECT_NE(bad.error.find("no-such-host.invalid"), std::string::npos);
    EXPECT_FALSE(resolve_origin("", 80).origin);
}

}  // namespace
}  // namespace pushrelay::upstream
