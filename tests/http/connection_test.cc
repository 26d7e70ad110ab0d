// http::Connection over one end of a socketpair, driven by the loop without any listener: the
// test writes requests into the other end and reads what the connection sent back.
#include "http/connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

namespace pushrelay::http {
namespace {

// The stream bound the relay uses by default (push_subscriber_max_unsent_bytes).
constexpr size_t kUnsentLimit = 4 << 20;

constexpr const char* kConf = R"(
events {}
http {
    access_log off;
    keepalive_requests 3;
    server {
        listen 127.0.0.1:8080;
        location / {}
    }
}
)";

// Answers every request as the test says: at once with the request's path as body, or not at
// all (the test then holds the exchange).
class RecordingHandler final : public Handler, public ExchangeObserver {
  public:
    bool answer_at_once = true;
    std::vector<std::string> paths;
    Exchange* held = nullptr;
    int aborted = 0;

    void handle(Exchange& exchange) override {
        paths.push_back(exchange.request().path);
        if (answer_at_once) {
            exchange.respond(200, {{"Content-Type", "text/plain"}}, exchange.request().path);
            return;
        }
        held = &exchange;
        exchange.set_observer(this);
    }
    int drained = 0;
    void exchange_drained() override { drained++; }
    void exchange_aborted() override {
        aborted++;
        held = nullptr;
    }
};

struct ConnectionTest : ::testing::Test {
    ConnectionTest()
        : config(conf::load_string(kConf, "/tmp/test.conf", "/tmp").config),
          loop(ev_loop_new(EVFLAG_AUTO)),
          connections(
              std::make_unique<Connections>(loop, handler, [this](size_t n) { open = n; })) {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        client = sv[1];
        sockaddr_storage peer{};
        reinterpret_cast<sockaddr_in*>(&peer)->sin_family = AF_INET;
        connections->adopt(core::UniqueFd(sv[0]), peer, config->servers.at(0));
    }
    ~ConnectionTest() override {
        connections.reset();
        ev_loop_destroy(loop);
        close(client);
    }

    void send(std::string_view bytes) {
        ASSERT_EQ(write(client, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
        turn();
    }
    // A few loop iterations: enough for any read, answer and write to happen.
    void turn() {
        for (int i = 0; i < 5; i++) ev_run(loop, EVRUN_NOWAIT);
    }
    // Everything the connection has sent so far; sets `eof` once it shut its side.
    std::string received() {
        std::string out;
        char buf[4096];
        for (;;) {
            ssize_t n = read(client, buf, sizeof buf);
            if (n > 0) {
                out.append(buf, n);
                continue;
            }
            eof = n == 0;
            return out;
        }
    }
    static int count(const std::string& text, std::string_view what) {
        int n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
            n++;
        return n;
    }

    std::unique_ptr<conf::Config> config;
    struct ev_loop* loop;
    RecordingHandler handler;
    size_t open = 0;
    std::unique_ptr<Connections> connections;
    int client = -1;
    bool eof = false;
};

TEST_F(ConnectionTest, PipelinedRequestsAreAnsweredInOrder) {
    send("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string out = received();
    EXPECT_EQ(handler.paths, (std::vector<std::string>{"/one", "/two"}));
    size_t one = out.find("\r\n\r\n/one"), two = out.find("\r\n\r\n/two");
    ASSERT_NE(one, std::string::npos);
    ASSERT_NE(two, std::string::npos);
    EXPECT_LT(one, two);
    EXPECT_EQ(count(out, "Connection: keep-alive"), 2);
    EXPECT_FALSE(eof);
}

TEST_F(ConnectionTest, APipelinedRequestWaitsForTheHeldOneBeforeIt) {
    handler.answer_at_once = false;
    send("GET /held HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(handler.paths, (std::vector<std::string>{"/held"}));
    EXPECT_EQ(received(), "");
    handler.answer_at_once = true;
    handler.held->respond(200, {}, "late");
    turn();
    std::string out = received();
    EXPECT_LT(out.find("late"), out.find("/next"));
    EXPECT_EQ(handler.paths.size(), 2u);
    EXPECT_EQ(handler.aborted, 0);  // answered by the handler: the observer is not told
}

TEST_F(ConnectionTest, Http10WithoutKeepAliveClosesAfterTheResponse) {
    send("GET /a HTTP/1.0\r\n\r\n");
    std::string out = received();
    EXPECT_NE(out.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(eof);  // lingering close: our write side is shut
}

TEST_F(ConnectionTest, KeepaliveRequestsLimitClosesTheLastOne) {
    send(
        "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /3 HTTP/1.1\r\nHost: x\r\n\r\nGET /4 HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string out = received();
    EXPECT_EQ(count(out, "Connection: keep-alive"), 2);
    EXPECT_EQ(count(out, "Connection: close"), 1);
    EXPECT_EQ(handler.paths.size(), 3u);  // the fourth is never read
    EXPECT_TRUE(eof);
}

TEST_F(ConnectionTest, AMalformedRequestGets400AndTheClose) {
    send("NOT HTTP AT ALL\r\n\r\n");
    std::string out = received();
    EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u);
    EXPECT_TRUE(eof);
    EXPECT_TRUE(handler.paths.empty());
}

TEST_F(ConnectionTest, AChunkedStreamIsFramedAndEnds) {
    handler.answer_at_once = false;
    send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    handler.held->begin_stream(200, {{"Content-Type", "text/event-stream"}}, Framing::Chunked,
                               kUnsentLimit);
    handler.held->send(std::make_shared<const std::string>("hello"));
    handler.held->send(std::make_shared<const std::string>("0123456789abcdef"));
    handler.held->end_stream();
    turn();
    std::string out = received();
    EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_EQ(out.find("Content-Length"), std::string::npos);
    EXPECT_NE(out.find("\r\n\r\n5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"),
              std::string::npos);
    EXPECT_FALSE(eof);  // chunked: the connection stays for the next request
    send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(handler.paths.back(), "/after");
}

TEST_F(ConnectionTest, AFixedStreamKeepsTheCallersLengthAndTheConnection) {
    handler.answer_at_once = false;
    send("GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
    protocol::ResponseHead head(299, "Odd Reason", 1);
    head.add("Content-Length", "10");
    handler.held->begin_stream(head, Framing::Fixed, kUnsentLimit);
    handler.held->send(std::make_shared<const std::string>("01234"));
    EXPECT_GT(handler.held->unsent(), 0u);  // written from the loop, once per turn
    turn();
    EXPECT_GT(handler.drained, 0);  // the producer hears that the output drained
    handler.held->send(std::make_shared<const std::string>("56789"));
    handler.held->end_stream();
    turn();
    std::string out = received();
    EXPECT_EQ(out.rfind("HTTP/1.1 299 Odd Reason\r\n", 0), 0u);
    EXPECT_EQ(count(out, "Content-Length: 10\r\n"), 1);
    EXPECT_EQ(out.find("chunked"), std::string::npos);
    EXPECT_NE(out.find("\r\n\r\n0123456789"), std::string::npos);
    EXPECT_FALSE(eof);
    send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(handler.paths.back(), "/after");
}

TEST_F(ConnectionTest, AbortCutsAStreamWithoutItsLastChunk) {
    handler.answer_at_once = false;
    send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    handler.held->begin_stream(200, {}, Framing::Chunked, kUnsentLimit);
    handler.held->send(std::make_shared<const std::string>("part"));
    turn();
    handler.held->abort();
    turn();
    std::string out = received();
    EXPECT_NE(out.find("4\r\npart\r\n"), std::string::npos);
    EXPECT_EQ(out.find("0\r\n\r\n"), std::string::npos);
    EXPECT_TRUE(eof);
    EXPECT_EQ(handler.aborted, 0);  // the handler ended it: its observer is not told
}

TEST_F(ConnectionTest, ARawStreamEndsWithTheClose) {
    handler.answer_at_once = false;
    send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    handler.held->begin_stream(200, {}, Framing::Raw, kUnsentLimit);
    handler.held->send(std::make_shared<const std::string>("part1 "));
    turn();
    std::string first = received();
    EXPECT_NE(first.find("Connection: close"), std::string::npos);
    EXPECT_NE(first.find("\r\n\r\npart1 "), std::string::npos);
    EXPECT_FALSE(eof);  // still streaming
    handler.held->send(std::make_shared<const std::string>("part2"));
    handler.held->end_stream();
    turn();
    EXPECT_EQ(received(), "part2");
    EXPECT_TRUE(eof);
}

TEST_F(ConnectionTest, TheClientLeavingAbortsAnOpenExchangeOnce) {
    handler.answer_at_once = false;
    send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_NE(handler.held, nullptr);
    EXPECT_EQ(open, 1u);
    shutdown(client, SHUT_WR);
    turn();
    EXPECT_EQ(handler.aborted, 1);
    EXPECT_EQ(open, 0u);
}

TEST_F(ConnectionTest, UpgradeHandsOverTheSocketAndTheBytesAfterTheRequest) {
    handler.answer_at_once = false;
    send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\nFRAME");
    core::UniqueFd taken;
    std::string unread;
    int ended = 0;
    std::function<void()> on_end;
    handler.held->on_end([&] { ended++; });
    handler.held->upgrade(
        std::make_shared<const std::string>("HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        [&](core::UniqueFd socket, std::string input, std::function<void()> done) {
            taken = std::move(socket);
            unread = std::move(input);
            on_end = std::move(done);
        });
    turn();
    EXPECT_EQ(received(), "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    ASSERT_TRUE(taken);
    EXPECT_EQ(unread, "FRAME");
    // What the request held goes with the socket: the new owner gives it back when it closes.
    EXPECT_EQ(ended, 0);
    ASSERT_TRUE(on_end);
    on_end();
    EXPECT_EQ(ended, 1);
    EXPECT_EQ(open, 0u);
    // The socket is the new owner's: it still talks to the client.
    ASSERT_EQ(write(taken.get(), "x", 1), 1);
    EXPECT_EQ(received(), "x");
}

TEST_F(ConnectionTest, GracefulStopClosesIdleConnections) {
    send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    received();
    connections->stop_gracefully();
    turn();
    EXPECT_EQ(open, 0u);
}

TEST_F(ConnectionTest, OnEndRunsOnceHoweverTheExchangeEnds) {
    handler.answer_at_once = false;
    int ended = 0;
    send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    handler.held->on_end([&] { ended++; });
    handler.held->respond(200, {}, "answered");
    EXPECT_EQ(ended, 1);
    send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    handler.held->on_end([&] { ended++; });
    handler.held->begin_stream(200, {}, Framing::Chunked, kUnsentLimit);
    EXPECT_EQ(ended, 1);  // a stream lasts until its end
    handler.held->end_stream();
    EXPECT_EQ(ended, 2);
    send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    handler.held->on_end([&] { ended++; });
    shutdown(client, SHUT_WR);
    turn();
    EXPECT_EQ(handler.aborted, 1);
    EXPECT_EQ(ended, 3);
}

TEST_F(ConnectionTest, AWriteErrorDuringSendIsReportedFromTheLoopNotUnderTheCaller) {
    signal(SIGPIPE, SIG_IGN);  // as a worker does
    handler.answer_at_once = false;
    send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    Exchange* stream = handler.held;
    stream->begin_stream(200, {}, Framing::Chunked, kUnsentLimit);
    close(client);
    client = -1;
    // The handler may be walking its subscribers: its observer must not run inside send().
    stream->send(std::make_shared<const std::string>("lost"));
    stream->send(std::make_shared<const std::string>("lost too"));
    EXPECT_EQ(handler.aborted, 0);
    turn();
    EXPECT_EQ(handler.aborted, 1);
    EXPECT_EQ(open, 0u);
}

TEST_F(ConnectionTest, AStreamWhoseClientLeavesTooMuchUnreadIsCutOff) {
    handler.answer_at_once = false;
    send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    Exchange* stream = handler.held;
    stream->begin_stream(200, {}, Framing::Raw, 100 << 10);
    auto piece = std::make_shared<const std::string>(16 << 10, 'x');
    // The client reads nothing: the socket buffers fill, then the queue passes the bound.
    for (int i = 0; i < 1024 && handler.aborted == 0; i++) {
        stream->send(piece);
        turn();
    }
    EXPECT_EQ(handler.aborted, 1);
    EXPECT_EQ(open, 0u);
}

TEST(OutputQueue, GathersAndConsumesAcrossChunks) {
    OutputQueue q;
    q.push(std::make_shared<const std::string>("abc"));
    q.push(std::make_shared<const std::string>("defg"));
    EXPECT_EQ(q.bytes(), 7u);
    q.consume(4);
    iovec iov[4];
    ASSERT_EQ(q.gather(iov, 4), 1);
    EXPECT_EQ(std::string(static_cast<char*>(iov[0].iov_base), iov[0].iov_len), "efg");
    q.consume(3);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.bytes(), 0u);
}

}  // namespace
}  // namespace pushrelay::http
