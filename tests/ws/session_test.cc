// ws::Session over a socketpair, the test playing the client: control frames, the closing
// handshake, wslay's framing rules, transports.md's 1007/1008 reasons, pings and the dead-client
// close, and the unsent-bytes cut-off.
#include "ws/session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>

namespace pushrelay::ws {
namespace {

// A client frame, encoded by wslay's frame layer (masked unless `mask` is false).
std::string client_frame(uint8_t opcode, std::string_view payload, bool fin = true,
                         bool mask = true) {
    std::string out;
    wslay_frame_callbacks callbacks{};
    callbacks.send_callback = [](const uint8_t* data, size_t len, int, void* user) -> ssize_t {
        static_cast<std::string*>(user)->append(reinterpret_cast<const char*>(data), len);
        return static_cast<ssize_t>(len);
    };
    callbacks.genmask_callback = [](uint8_t* buf, size_t len, void*) -> int {
        for (size_t i = 0; i < len; ++i) buf[i] = static_cast<uint8_t>(0x37 + i);
        return 0;
    };
    wslay_frame_context_ptr ctx;
    EXPECT_EQ(wslay_frame_context_init(&ctx, &callbacks, &out), 0);
    wslay_frame_iocb iocb{};
    iocb.fin = fin;
    iocb.opcode = opcode;
    iocb.mask = mask;
    iocb.payload_length = payload.size();
    iocb.data = reinterpret_cast<const uint8_t*>(payload.data());
    iocb.data_length = payload.size();
    // wslay refuses to encode a control frame without FIN; the header's first byte is patched
    // for that one test.
    if (!fin && opcode >= 8)
        iocb.fin = 1;
    EXPECT_GE(wslay_frame_send(ctx, &iocb), 0);
    wslay_frame_context_free(ctx);
    if (!fin && opcode >= 8)
        out[0] = static_cast<char>(out[0] & 0x7f);
    return out;
}

struct Recorder : SessionObserver {
    std::vector<std::pair<Opcode, std::string>> messages;
    bool closed = false;
    bool echo = false;
    void message_received(Session& s, Opcode op, std::string_view payload) override {
        messages.emplace_back(op, std::string(payload));
        if (echo)
            s.send(shared_frame(op, payload));
    }
    void session_closed(Session&) override { closed = true; }
};

class SessionTest : public ::testing::Test {
  protected:
    void SetUp() override {
        loop_ = ev_loop_new(EVFLAG_AUTO);
        ev_timer_init(
            &tick_, [](struct ev_loop*, ev_timer*, int) {}, 0.005, 0.005);
        ev_timer_start(loop_, &tick_);
    }
    void TearDown() override {
        session_.reset();
        ev_timer_stop(loop_, &tick_);
        ev_loop_destroy(loop_);
        if (client_ >= 0)
            ::close(client_);
    }

    void open(SessionOptions options = {}, std::string unread = "") {
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        client_ = fds[1];
        session_ = std::make_unique<Session>(loop_, core::UniqueFd(fds[0]), std::move(unread),
                                             options, recorder_, "test");
        session_->start();
    }

    // Runs the loop until `done` or two seconds.
    bool run_until(const std::function<bool()>& done, double seconds = 2) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            ev_run(loop_, EVRUN_ONCE);
            drain_client();
        }
        return true;
    }

    void drain_client() {
        char buf[65536];
        for (;;) {
            ssize_t n = ::recv(client_, buf, sizeof buf, 0);
            if (n > 0) {
                received_.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0)
                client_eof_ = true;
            return;
        }
    }

    void client_send(const std::string& bytes) {
        ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), 0),
                  static_cast<ssize_t>(bytes.size()));
    }

    // Until the client has `expected` and then EOF (the server closed TCP).
    void expect_then_eof(const std::string& expected) {
        EXPECT_TRUE(run_until([&] { return client_eof_ && recorder_.closed; }));
        EXPECT_EQ(received_, expected);
    }

    struct ev_loop* loop_;
    ev_timer tick_;
    int client_ = -1;
    Recorder recorder_;
    std::unique_ptr<Session> session_;
    std::string received_;
    bool client_eof_ = false;
};

TEST_F(SessionTest, PingGetsPongWithThePayload) {
    open();
    client_send(client_frame(WSLAY_PING, "hey"));
    EXPECT_TRUE(run_until([&] { return received_.size() >= 5; }));
    EXPECT_EQ(received_, "\x8a\x03hey");
    client_send(client_frame(WSLAY_PONG, "ignored"));
    client_send(client_frame(WSLAY_TEXT_FRAME, "after"));
    EXPECT_TRUE(run_until([&] { return !recorder_.messages.empty(); }));
    EXPECT_EQ(received_, "\x8a\x03hey");
}

TEST_F(SessionTest, ClientCloseIsEchoedThenTcpCloses) {
    open();
    client_send(client_frame(WSLAY_CONNECTION_CLOSE, "\x0f\xa0sorry"));  // 4000
    expect_then_eof("\x88\x07\x0f\xa0sorry");
}

TEST_F(SessionTest, ClientCloseWithoutStatusIsEchoedEmpty) {
    open();
    client_send(client_frame(WSLAY_CONNECTION_CLOSE, ""));
    expect_then_eof(std::string("\x88\x00", 2));
}

TEST_F(SessionTest, FramesBeforeStartAndFragmentsMakeMessages) {
    open({}, client_frame(WSLAY_TEXT_FRAME, "one"));
    client_send(client_frame(WSLAY_TEXT_FRAME, "tw", false) +
                client_frame(WSLAY_PING, "") +  // a control frame between fragments is allowed
                client_frame(WSLAY_CONTINUATION_FRAME, "o") +
                client_frame(WSLAY_BINARY_FRAME, std::string("\xff\x00", 2)));
    EXPECT_TRUE(run_until([&] { return recorder_.messages.size() == 3; }));
    EXPECT_EQ(recorder_.messages[0], std::make_pair(Opcode::Text, std::string("one")));
    EXPECT_EQ(recorder_.messages[1], std::make_pair(Opcode::Text, std::string("two")));
    EXPECT_EQ(recorder_.messages[2], std::make_pair(Opcode::Binary, std::string("\xff\x00", 2)));
}

TEST_F(SessionTest, TextNotUtf8Closes1007WithTheReason) {
    open();
    client_send(client_frame(WSLAY_TEXT_FRAME, "bad \xff"));
    client_send(client_frame(WSLAY_CONNECTION_CLOSE, "\x03\xe8"));
    expect_then_eof(
        "\x88\x20\x03\xef"
        "Invalid text frame (not UTF8).");
    EXPECT_TRUE(recorder_.messages.empty());
}

TEST_F(SessionTest, SubscriberFrameCloses1008AndWaitsForTheClientsClose) {
    SessionOptions options;
    options.accept_messages = false;
    open(options);
    client_send(client_frame(WSLAY_TEXT_FRAME, "hello"));
    std::string expected =
        "\x88\x19\x03\xf0"
        "Publishing not allowed.";
    EXPECT_TRUE(run_until([&] { return received_.size() >= expected.size(); }));
    EXPECT_EQ(received_, expected);
    EXPECT_FALSE(client_eof_);
    client_send(client_frame(WSLAY_CONNECTION_CLOSE, "\x03\xf0"));
    expect_then_eof(expected);
    EXPECT_TRUE(recorder_.messages.empty());
}

TEST_F(SessionTest, ServerCloseEndsTcpAfter250msWithoutTheClientsClose) {
    open();
    session_->close(1001, "Going Away");
    auto start = std::chrono::steady_clock::now();
    expect_then_eof(
        "\x88\x0c\x03\xe9"
        "Going Away");
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
    session_->send(shared_frame(Opcode::Text, "late"));  // ignored
}

TEST_F(SessionTest, UnmaskedClientFrameIsAProtocolError) {
    open();
    client_send(client_frame(WSLAY_TEXT_FRAME, "x", true, false));
    expect_then_eof("\x88\x02\x03\xea");
}

TEST_F(SessionTest, FragmentedControlFrameIsAProtocolError) {
    open();
    client_send(client_frame(WSLAY_PING, "x", false));
    expect_then_eof("\x88\x02\x03\xea");
}

TEST_F(SessionTest, OversizeMessageCloses1009) {
    SessionOptions options;
    options.max_message_length = 1000;
    open(options);
    client_send(client_frame(WSLAY_BINARY_FRAME, std::string(1001, 'x')));
    expect_then_eof("\x88\x02\x03\xf1");
    EXPECT_TRUE(recorder_.messages.empty());
}

TEST_F(SessionTest, DeadClientGetsClose1000AtTheNextPing) {
    SessionOptions options;
    options.ping_interval = 0.05;
    open(options);
    // Answering the first ping keeps it alive through the second.
    EXPECT_TRUE(run_until([&] { return received_.size() >= 2; }));
    EXPECT_EQ(received_, std::string("\x89\x00", 2));
    client_send(client_frame(WSLAY_PONG, ""));
    EXPECT_TRUE(run_until([&] { return received_.size() >= 4; }));
    EXPECT_EQ(received_, std::string("\x89\x00\x89\x00", 4));
    expect_then_eof(std::string("\x89\x00\x89\x00\x88\x02\x03\xe8", 8));
}

TEST_F(SessionTest, BurstLeavesInOrderAndEchoesShareFrames) {
    recorder_.echo = true;
    open();
    auto frame = shared_frame(Opcode::Text, "m");
    for (int i = 0; i < 100; ++i) session_->send(frame);
    client_send(client_frame(WSLAY_TEXT_FRAME, "e"));
    std::string expected;
    for (int i = 0; i < 100; ++i) expected += "\x81\x01m";
    expected +=
        "\x81\x01"
        "e";
    EXPECT_TRUE(run_until([&] { return received_.size() >= expected.size(); }));
    EXPECT_EQ(received_, expected);
}

TEST_F(SessionTest, SlowReaderIsCutOff) {
    SessionOptions options;
    options.max_unsent_bytes = 256 * 1024;
    open(options);
    auto frame = shared_frame(Opcode::Binary, std::string(64 * 1024, 'x'));
    // The client reads nothing: the socket buffers fill, then the queue passes the bound.
    for (int i = 0; i < 200 && !session_->closing(); ++i) {
        session_->send(frame);
        ev_run(loop_, EVRUN_NOWAIT);
    }
    auto start = std::chrono::steady_clock::now();
    while (!recorder_.closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(2))
        ev_run(loop_, EVRUN_ONCE);
    EXPECT_TRUE(recorder_.closed);
}

}  // namespace
}  // namespace pushrelay::ws
