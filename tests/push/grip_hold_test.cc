// GRIP holds (shared/grip.md "Response hold", "Stream hold", "Reliability") driven end to end
// inside one loop: a real http::Connection over a socketpair holds the exchange, a broker fake
// registers the channels, GRIP items arrive as the broker's dispatch hands them
// (Subscriptions::on_message), packed by grip::pack_item exactly as the publish location packs
// them, and re-requests and next links go to an origin served on the same loop.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "grip/item.h"
#include "http/connection.h"
#include "push/grip_hold.h"
#include "push/grip_proxy.h"
#include "push/grip_sequencer.h"
#include "push/subscriptions.h"

namespace pushrelay::push {
namespace {

// The origin is FakeOrigin: with no answer ready it closes, and a re-request ends in a 502.
constexpr const char* kConf = R"(
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:8080;
        location / {
            push_grip_proxy http://127.0.0.1:%u;
            push_grip_connect_timeout 1s;
            push_grip_debug on;
        }
    }
}
)";

// Declared first in the fixture, so destroyed last: everything else stops its watchers before.
struct Loop {
    struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
    ~Loop() { ev_loop_destroy(loop); }
};

// An HTTP origin on the test's loop. Each request (a head, no body) is recorded; while `answers`
// has one and the origin is not `paused`, the next is written and the connection closed; with
// none, the connection is closed unanswered.
class FakeOrigin {
  public:
    explicit FakeOrigin(struct ev_loop* loop) : loop_(loop) {
        listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), len), 0);
        EXPECT_EQ(listen(listener_, 16), 0);
        EXPECT_EQ(getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port = ntohs(addr.sin_port);
        ev_io_init(&accept_, on_accept, listener_, EV_READ);
        accept_.data = this;
        ev_io_start(loop_, &accept_);
    }
    ~FakeOrigin() {
        for (Conn& c : conns_) drop(c);
        ev_io_stop(loop_, &accept_);
        close(listener_);
    }

    unsigned port = 0;
    std::deque<std::string> answers;
    std::vector<std::string> requests;  // heads, in arrival order
    bool paused = false;

    // Answers the requests waiting while paused.
    void resume() {
        paused = false;
        for (Conn& c : conns_) {
            if (c.fd >= 0 && c.complete)
                answer(c);
        }
    }
    // "HTTP/1.1 200 OK" with `headers` (CRLF-terminated lines) and `body`.
    static std::string ok(std::string headers, std::string body) {
        return "HTTP/1.1 200 OK\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body;
    }

  private:
    struct Conn {
        FakeOrigin* origin;
        int fd;
        ev_io io;
        std::string in;
        bool complete = false;
    };

    static void on_accept(struct ev_loop*, ev_io* w, int) {
        auto* self = static_cast<FakeOrigin*>(w->data);
        for (int fd; (fd = accept4(self->listener_, nullptr, nullptr,
                                   SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
            Conn& c = self->conns_.emplace_back(Conn{self, fd, {}, {}});
            ev_io_init(&c.io, on_read, fd, EV_READ);
            c.io.data = &c;
            ev_io_start(self->loop_, &c.io);
        }
    }
    static void on_read(struct ev_loop*, ev_io* w, int) {
        Conn& c = *static_cast<Conn*>(w->data);
        char buf[4096];
        const ssize_t n = read(c.fd, buf, sizeof buf);
        if (n <= 0)
            return c.origin->drop(c);
        c.in.append(buf, n);
        if (c.complete || c.in.find("\r\n\r\n") == std::string::npos)
            return;
        c.complete = true;
        c.origin->requests.push_back(c.in);
        if (!c.origin->paused)
            c.origin->answer(c);
    }
    void answer(Conn& c) {
        if (!answers.empty()) {
            const std::string& a = answers.front();
            EXPECT_EQ(write(c.fd, a.data(), a.size()), ssize_t(a.size()));
            answers.pop_front();
        }
        drop(c);
    }
    void drop(Conn& c) {
        if (c.fd < 0)
            return;
        ev_io_stop(loop_, &c.io);
        close(c.fd);
        c.fd = -1;
    }

    struct ev_loop* loop_;
    int listener_ = -1;
    ev_io accept_;
    std::list<Conn> conns_;  // a list: the watchers' addresses stay put
};

// Registers every subscribe as a waiter on a channel whose uid is its key's position.
class HoldingBroker final : public broker::Broker {
  public:
    std::map<std::string, std::uint64_t> uids;
    std::map<std::uint64_t, std::int64_t> waiters;
    std::map<std::string, std::string> sequence_states;  // by channel key

    broker::PublishResult publish(std::string_view, std::string_view, std::string_view,
                                  std::string_view, const core::ChannelLimits&) override {
        return {};
    }
    broker::DeleteResult delete_channel(std::string_view) override { return {}; }
    std::optional<core::ChannelInfo> info(std::string_view) override { return std::nullopt; }
    broker::SubscribeResult subscribe(const broker::SubscribeRequest& request) override {
        EXPECT_TRUE(request.wait_for_new);  // GRIP keeps no history
        const std::uint64_t uid =
            uids.emplace(std::string(request.key), uids.size() + 1).first->second;
        waiters[uid]++;
        broker::SubscribeResult result;
        result.channel = {std::string(request.key), uid};
        result.waiting = true;
        return result;
    }
    void unsubscribe(const broker::ChannelRef& channel, std::uint32_t n) override {
        waiters[channel.uid] -= n;
    }
    void record_delivery(const broker::ChannelRef& channel, const broker::Message&, std::uint32_t,
                         std::uint32_t ended) override {
        waiters[channel.uid] -= ended;
    }
    broker::NextResult find_next(const broker::ChannelRef&, core::MessageId) override { return {}; }
    void set_listener(broker::Listener*) override {}
    void dispatch_events() override {}
    void expire() override {}
    broker::Stats stats() override { return {}; }
    void set_held(core::SubscriberKind, std::uint32_t) override {}
    void count_grip_items(std::uint64_t) override {}
    void count_grip_rerequest() override {}
    void count_grip_origin_error() override {}
    core::Status sequence_grip(std::string_view, const broker::SequenceStep&) override {
        return core::Status::Ok;
    }
    std::size_t sequence_grip_due(std::int64_t, const broker::SequenceStep&) override { return 0; }
    std::string grip_sequence_state(std::string_view key) override {
        auto it = sequence_states.find(std::string(key));
        return it != sequence_states.end() ? it->second : std::string();
    }
    std::int64_t next_grip_wake() override { return INT64_MAX; }
    void announce_grip_recover() override {}
    std::int64_t now_ms() const override { return 0; }
};

// Holds every request with the instruction the test set.
class HoldingHandler final : public http::Handler {
  public:
    explicit HoldingHandler(GripProxy& proxy) : proxy_(proxy) {}
    grip::Instruction instruction;
    HoldResponse response;
    void handle(http::Exchange& exchange) override {
        Hold::start(proxy_, exchange, instruction, response);
    }

  private:
    GripProxy& proxy_;
};

struct GripHoldTest : ::testing::Test {
    GripHoldTest()
        : loop(owned_loop.loop),
          origin(loop),
          config(load_conf(origin.port)),
          subscriptions(broker, loop),
          proxy(broker, subscriptions, loop),
          handler(proxy),
          connections(std::make_unique<http::Connections>(loop, handler, [](size_t) {})) {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        client = sv[1];
        sockaddr_storage peer{};
        reinterpret_cast<sockaddr_in*>(&peer)->sin_family = AF_INET;
        connections->adopt(core::UniqueFd(sv[0]), peer, config->servers.at(0));
        handler.response = {
            200, "OK", {{"X-Hold", "h"}, {"Content-Type", "text/plain"}}, "timeout"};
    }
    ~GripHoldTest() override {
        connections.reset();
        close(client);
    }

    static std::unique_ptr<conf::Config> load_conf(unsigned port) {
        char text[1024];
        snprintf(text, sizeof text, kConf, port);
        return conf::load_string(text, "/tmp/test.conf", "/tmp").config;
    }
    void hold(grip::HoldMode mode, std::vector<grip::HoldChannel> channels) {
        handler.instruction.mode = mode;
        handler.instruction.channels = std::move(channels);
        const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_EQ(write(client, request.data(), request.size()), ssize_t(request.size()));
        turn();
    }
    void publish(std::string_view channel, const grip::Item& item) {
        next_id.time++;
        subscriptions.on_message(
            broker.uids.at("/" + std::string(channel)),
            {next_id, std::string(kGripItemType), "",
             std::make_shared<const std::string>(grip::pack_item(item)), 0, nullptr});
        turn();
    }
    void turn() {
        for (int i = 0; i < 5; i++) ev_run(loop, EVRUN_NOWAIT);
    }
    // Runs the loop until `done` (at most about two seconds); returns done().
    bool turn_until(const std::function<bool()>& done) {
        for (int i = 0; i < 2000 && !done(); i++) {
            ev_run(loop, EVRUN_NOWAIT);
            usleep(1000);
        }
        return done();
    }
    // Reads what the client got until it holds `part`; returns all of it.
    std::string receive_until(std::string_view part) {
        std::string out;
        turn_until([&] {
            out += received();
            return out.find(part) != std::string::npos;
        });
        return out;
    }
    std::string received() {
        std::string out;
        char buf[4096];
        for (ssize_t n; (n = read(client, buf, sizeof buf)) > 0;) out.append(buf, n);
        return out;
    }
    static grip::Item response_item(std::string body, std::optional<std::string> prev = {}) {
        grip::Item item;
        item.channel = "c";
        item.prev_id = std::move(prev);
        item.http_response = grip::HttpResponseFormat{
            grip::Action::Send, 201, "Made", {{"X-Hold", "published"}}, std::move(body)};
        return item;
    }

    Loop owned_loop;
    struct ev_loop* loop;
    FakeOrigin origin;
    std::unique_ptr<conf::Config> config;
    HoldingBroker broker;
    Subscriptions subscriptions;
    GripProxy proxy;
    HoldingHandler handler;
    std::unique_ptr<http::Connections> connections;
    int client = -1;
    core::MessageId next_id{100, 0};
};

TEST_F(GripHoldTest, AnHttpResponseItemAnswersWithMergedHeadersAndExactLength) {
    hold(grip::HoldMode::Response, {{"a", {}}, {"c", {}}});
    EXPECT_EQ(broker.waiters[1] + broker.waiters[2], 2);
    EXPECT_EQ(proxy.figures().held_responses, 1u);
    EXPECT_EQ(received(), "");
    publish("c", response_item("payload"));
    const std::string out = received();
    EXPECT_EQ(out.rfind("HTTP/1.1 201 Made\r\n", 0), 0u) << out;
    EXPECT_NE(out.find("X-Hold: published\r\n"), std::string::npos);
    EXPECT_EQ(out.find("X-Hold: h"), std::string::npos);  // replaced, not repeated
    EXPECT_NE(out.find("Content-Type: text/plain\r\n"), std::string::npos);  // inherited
    EXPECT_NE(out.find("Content-Length: 7\r\n"), std::string::npos);
    EXPECT_EQ(out.substr(out.size() - 7), "payload");
    // Answered once; every channel left.
    publish("a", response_item("again"));
    EXPECT_EQ(received(), "");
    EXPECT_EQ(broker.waiters[1] + broker.waiters[2], 0);
    EXPECT_EQ(proxy.figures().held_responses, 0u);
}

TEST_F(GripHoldTest, CloseAndStreamItemsAreIgnoredByAResponseHold) {
    hold(grip::HoldMode::Response, {{"c", {}}});
    grip::Item close = response_item("");
    close.http_response->action = grip::Action::Close;
    publish("c", close);
    grip::Item stream;
    stream.channel = "c";
    stream.http_stream = grip::HttpStreamFormat{grip::Action::Send, "bytes"};
    publish("c", stream);
    EXPECT_EQ(received(), "");
    publish("c", response_item("now"));
    EXPECT_NE(received().find("\r\n\r\nnow"), std::string::npos);
}

TEST_F(GripHoldTest, AnItemWithAnotherPrevIdReRequests) {
    hold(grip::HoldMode::Response, {{"c", std::string("7")}});
    publish("c", response_item("skipped", std::string("6")));
    EXPECT_EQ(proxy.figures().rerequests, 1u);
    EXPECT_EQ(broker.waiters[1], 0);
    // The re-request goes to the origin (a closed port here): answered afresh, a 502.
    std::string out;
    for (int i = 0; i < 100 && (out = received()).empty(); i++) {
        usleep(10000);
        turn();
    }
    EXPECT_EQ(out.rfind("HTTP/1.1 502", 0), 0u) << out;
}

TEST_F(GripHoldTest, AMatchingPrevIdIsDelivered) {
    hold(grip::HoldMode::Response, {{"c", std::string("7")}});
    publish("c", response_item("in order", std::string("7")));
    EXPECT_NE(received().find("\r\n\r\nin order"), std::string::npos);
    EXPECT_EQ(proxy.figures().rerequests, 0u);
}

TEST_F(GripHoldTest, AStreamHoldAppendsContentAndCloseEndsItReusable) {
    handler.response.body = "initial";
    hold(grip::HoldMode::Stream, {{"c", {}}});
    EXPECT_EQ(proxy.figures().held_streams, 1u);
    std::string out = received();
    EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_NE(out.find("7\r\ninitial\r\n"), std::string::npos);
    grip::Item item;
    item.channel = "c";
    item.http_stream = grip::HttpStreamFormat{grip::Action::Send, "more"};
    publish("c", item);
    publish("c", response_item("ignored"));  // http-response items: ignored by streams
    item.http_stream = grip::HttpStreamFormat{grip::Action::Close, ""};
    publish("c", item);
    EXPECT_EQ(received(), "4\r\nmore\r\n0\r\n\r\n");
    EXPECT_EQ(broker.waiters[1], 0);
    EXPECT_EQ(proxy.figures().held_streams, 0u);
}

TEST_F(GripHoldTest, TheClientLeavingLeavesEveryChannelAtOnce) {
    hold(grip::HoldMode::Response, {{"a", {}}, {"b", {}}});
    EXPECT_EQ(broker.waiters[1] + broker.waiters[2], 2);
    shutdown(client, SHUT_WR);
    turn();
    EXPECT_EQ(broker.waiters[1] + broker.waiters[2], 0);
    EXPECT_EQ(proxy.figures().held_responses, 0u);
}

TEST_F(GripHoldTest, AGracefulStopAnswersHoldsWithTheirHoldResponse) {
    hold(grip::HoldMode::Response, {{"c", {}}});
    subscriptions.stop_all(Ending::Stopping);
    turn();
    std::string out = received();
    EXPECT_NE(out.find("X-Hold: h\r\n"), std::string::npos);
    EXPECT_EQ(out.substr(out.size() - 7), "timeout");
    EXPECT_EQ(broker.waiters[1], 0);
    proxy.stop();  // a hold that begins now is answered at once, never subscribed
    hold(grip::HoldMode::Response, {{"d", {}}});
    out = received();
    EXPECT_EQ(out.substr(out.size() - 7), "timeout");
    EXPECT_EQ(broker.uids.count("/d"), 0u);
}

// ---- next links (grip.md "Reliability") ----

grip::Item stream_item(std::string content, std::optional<std::string> prev = {},
                       std::optional<std::string> id = {},
                       grip::Action action = grip::Action::Send) {
    grip::Item item;
    item.channel = "c";
    item.id = std::move(id);
    item.prev_id = std::move(prev);
    item.http_stream = grip::HttpStreamFormat{action, std::move(content)};
    return item;
}

// The link's answer: a stream hold of channel `channel` at prev-id `prev`, linking on to /n2.
std::string stream_answer(std::string channel, std::string prev, std::string body) {
    return FakeOrigin::ok("Grip-Hold: stream\r\nGrip-Channel: " + channel + "; prev-id=" + prev +
                              "\r\nGrip-Link: </n2>; rel=next\r\n",
                          std::move(body));
}

struct NextLinkTest : GripHoldTest {
    void stream(std::string prev = "1") {
        handler.response.body = "";
        handler.instruction.next = grip::NextLink{"/next", 120};
        hold(grip::HoldMode::Stream, {{"c", std::move(prev)}});
        received();
    }
    bool fetched(std::size_t n) {
        return turn_until([&] { return origin.requests.size() >= n; });
    }
};

TEST_F(NextLinkTest, AHintFetchesTheLinkWithGripLastAndTakesItsAnswer) {
    stream();
    origin.answers.push_back(stream_answer("d", "5", "from link"));
    publish("c", stream_item("", "1", {}, grip::Action::Hint));
    const std::string out = receive_until("from link");
    ASSERT_EQ(origin.requests.size(), 1u);
    const std::string& request = origin.requests[0];
    EXPECT_EQ(request.rfind("GET /next HTTP/1.1\r\n", 0), 0u) << request;
    EXPECT_NE(request.find("\r\nGrip-Last: c; last-id=1\r\n"), std::string::npos) << request;
    EXPECT_NE(request.find("\r\nGrip-Sig: "), std::string::npos);
    EXPECT_NE(request.find("\r\nGrip-Feature: status, link:next\r\n"), std::string::npos);
    EXPECT_NE(out.find("9\r\nfrom link\r\n"), std::string::npos) << out;
    // The answer's channel replaced the old one: c is left, d holds at prev-id 5.
    EXPECT_EQ(broker.waiters[broker.uids.at("/c")], 0);
    EXPECT_EQ(broker.waiters[broker.uids.at("/d")], 1);
    EXPECT_EQ(proxy.figures().held_streams, 1u);
    publish("d", stream_item("on d", "5", "6"));
    EXPECT_EQ(received(), "4\r\non d\r\n");
}

TEST_F(NextLinkTest, AGapFetchesTheLinkAndTheItemIsNotSent) {
    stream();
    origin.answers.push_back(stream_answer("c", "9", "caught up\n"));
    publish("c", stream_item("skipped", "8", "9"));
    const std::string out = receive_until("caught up");
    EXPECT_EQ(out.find("skipped"), std::string::npos);
    EXPECT_EQ(origin.requests.size(), 1u);
    publish("c", stream_item("next", "9", "10"));  // follows the answer's prev-id
    EXPECT_EQ(received(), "4\r\nnext\r\n");
}

// The channel's last sent id, as the publish location's sequencing keeps it server-wide.
std::string sequence_state_with_last_id(std::string id) {
    GripChannelState state;
    state.last_id = std::move(id);
    return encode_state(state);
}

TEST_F(NextLinkTest, APrevIdThatConflictsWithTheChannelsLastIdFetchesAtOnce) {
    broker.sequence_states["/c"] = sequence_state_with_last_id("3");
    origin.answers.push_back(stream_answer("c", "3", "caught up\n"));
    handler.response.body = "";
    handler.instruction.next = grip::NextLink{"/next", 120};
    hold(grip::HoldMode::Stream, {{"c", "1"}});
    const std::string out = receive_until("caught up");
    EXPECT_NE(out.find("a\r\ncaught up\n\r\n"), std::string::npos) << out;
    ASSERT_EQ(origin.requests.size(), 1u);
    EXPECT_NE(origin.requests[0].find("\r\nGrip-Last: c; last-id=1\r\n"), std::string::npos);
    publish("c", stream_item("next", "3", "4"));
    EXPECT_EQ(received(), "4\r\nnext\r\n");
}

TEST_F(NextLinkTest, APrevIdThatIsTheChannelsLastIdFetchesNothing) {
    broker.sequence_states["/c"] = sequence_state_with_last_id("1");
    stream("1");
    publish("c", stream_item("next", "1", "2"));
    EXPECT_EQ(received(), "4\r\nnext\r\n");
    EXPECT_TRUE(origin.requests.empty());
}

TEST_F(NextLinkTest, ItemsDuringAFetchAreQueuedThenThoseTheAnswerCoveredAreDropped) {
    stream();
    origin.paused = true;
    publish("c", stream_item("", "1", {}, grip::Action::Hint));
    ASSERT_TRUE(fetched(1));
    publish("c", stream_item("covered", "1", "2"));  // the answer includes it
    publish("c", stream_item("after", "2", "3"));    // follows the answer
    EXPECT_EQ(received(), "");
    origin.answers.push_back(stream_answer("c", "2", "body to 2\n"));
    origin.resume();
    const std::string out = receive_until("after");
    EXPECT_EQ(out.find("covered"), std::string::npos) << out;
    EXPECT_LT(out.find("body to 2"), out.find("after"));
    EXPECT_EQ(origin.requests.size(), 1u);
}

TEST_F(NextLinkTest, AFailingLinkIsRetriedThenTheStreamEnds) {
    proxy.set_link_retry_unit(0.001);
    stream();
    publish("c", stream_item("", "1", {}, grip::Action::Hint));  // the origin closes, unanswered
    const std::string out = receive_until("0\r\n\r\n");
    EXPECT_EQ(origin.requests.size(), 1u + kLinkRetries);
    EXPECT_NE(out.find("\n\nFailed to retrieve next link.\n"), std::string::npos) << out;
    turn();  // the members leave from the loop
    EXPECT_EQ(broker.waiters[broker.uids.at("/c")], 0);
}

TEST_F(NextLinkTest, ARetryThatSucceedsContinuesTheStream) {
    proxy.set_link_retry_unit(0.001);
    stream();
    origin.answers.push_back("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    origin.answers.push_back(stream_answer("c", "1", "second try\n"));
    publish("c", stream_item("", "1", {}, grip::Action::Hint));
    receive_until("second try");
    EXPECT_EQ(origin.requests.size(), 2u);
    EXPECT_EQ(proxy.figures().held_streams, 1u);
}

TEST_F(NextLinkTest, ANoHoldAnswerIsAppendedAndEndsTheStream) {
    stream();
    origin.answers.push_back(FakeOrigin::ok("Grip-Status: 200\r\n", "last words\n"));
    publish("c", stream_item("", "1", {}, grip::Action::Hint));
    const std::string out = receive_until("0\r\n\r\n");
    EXPECT_NE(out.find("last words\n\r\n0\r\n\r\n"), std::string::npos) << out;
    turn();  // the members leave from the loop
    EXPECT_EQ(broker.waiters[broker.uids.at("/c")], 0);
}

TEST_F(NextLinkTest, AResponseHoldAnswerEndsTheStreamWithTheReason) {
    stream();
    origin.answers.push_back(FakeOrigin::ok("Grip-Hold: response\r\nGrip-Channel: c\r\n", ""));
    publish("c", stream_item("", "1", {}, grip::Action::Hint));
    const std::string out = receive_until("0\r\n\r\n");
    EXPECT_NE(out.find("Next link returned non-stream hold."), std::string::npos) << out;
    EXPECT_EQ(origin.requests.size(), 1u);  // not retried: the answer itself is wrong
}

TEST_F(NextLinkTest, RefreshHoldsFetchesAStreamsLinkOnce) {
    stream();
    origin.paused = true;
    proxy.refresh_holds();
    ASSERT_TRUE(fetched(1));
    EXPECT_EQ(origin.requests[0].rfind("GET /next ", 0), 0u);
    proxy.refresh_holds();  // a fetch is under way: not another
    turn();
    EXPECT_EQ(origin.requests.size(), 1u);
    EXPECT_EQ(proxy.figures().rerequests, 0u);
}

TEST_F(GripHoldTest, RefreshHoldsLeavesAStreamWithoutLinkAlone) {
    hold(grip::HoldMode::Stream, {{"c", {}}});
    received();
    proxy.refresh_holds();
    turn();
    EXPECT_TRUE(origin.requests.empty());
    publish("c", stream_item("still here"));
    EXPECT_EQ(received(), "a\r\nstill here\r\n");
}

TEST_F(GripHoldTest, RefreshHoldsReRequestsAResponseHold) {
    hold(grip::HoldMode::Response, {{"c", std::string("4")}});
    proxy.refresh_holds();
    EXPECT_EQ(proxy.figures().rerequests, 1u);
    EXPECT_TRUE(turn_until([&] { return origin.requests.size() == 1; }));
    EXPECT_NE(origin.requests[0].find("\r\nGrip-Last: c; last-id=4\r\n"), std::string::npos);
}

TEST(StreamLink, ResolvesAgainstTheRequestAndRefusesAnotherOrigin) {
    conf::GripSettings settings;
    settings.origin_host = "127.0.0.1";
    settings.origin_port = 3000;
    grip::Instruction in;
    in.mode = grip::HoldMode::Stream;
    in.channels = {{"c", std::string("1")}};
    auto refused = stream_link(in, "/a/b", settings);  // prev-id without a link
    EXPECT_TRUE(std::holds_alternative<grip::InstructionError>(refused));
    in.next = grip::NextLink{"next?x=1", 120};
    auto link = stream_link(in, "/a/b", settings);
    ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(link));
    EXPECT_EQ(std::get<std::optional<std::string>>(link), "/a/next?x=1");
    in.next->uri = "http://127.0.0.1:3001/next";
    EXPECT_TRUE(std::holds_alternative<grip::InstructionError>(stream_link(in, "/", settings)));
    in.next->uri = "http://127.0.0.1:3000/next";
    EXPECT_EQ(std::get<std::optional<std::string>>(stream_link(in, "/", settings)), "/next");
}

TEST(LinkRetryDelay, DoublesFromOneUnitWithUpToOneUnitOfJitter) {
    EXPECT_DOUBLE_EQ(link_retry_delay(0, 1., 0.), 1.);
    EXPECT_DOUBLE_EQ(link_retry_delay(4, 1., 0.), 16.);
    EXPECT_DOUBLE_EQ(link_retry_delay(2, 1., 0.5), 4.5);
    EXPECT_DOUBLE_EQ(link_retry_delay(1, 0.01, 1.), 0.03);
}

TEST(HoldResponseOf, GripStatusReplacesTheOriginsStatusAndGripHeadersGo) {
    grip::Instruction instruction;
    instruction.status = grip::StatusOverride{304, "Not Modified"};
    upstream::ResponseHead head;
    head.status = 200;
    head.reason = "OK";
    head.headers = {{"Grip-Hold", "response"}, {"Content-Length", "3"}, {"X-A", "1"}};
    HoldResponse r = hold_response_of(instruction, head, "abc");
    EXPECT_EQ(r.code, 304);
    EXPECT_EQ(r.reason, "Not Modified");
    EXPECT_EQ(r.headers, (std::vector<protocol::Header>{{"X-A", "1"}}));
    EXPECT_EQ(r.body, "abc");
}

}  // namespace
}  // namespace pushrelay::push
