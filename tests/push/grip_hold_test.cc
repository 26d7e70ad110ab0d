// GRIP holds (shared/grip.md "Response hold", "Stream hold") driven end to end inside one loop:
// a real http::Connection over a socketpair holds the exchange, a broker fake registers the
// channels, and GRIP items arrive as the broker's dispatch hands them (Subscriptions::on_message),
// packed by grip::pack_item exactly as the publish location packs them.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "grip/item.h"
#include "http/connection.h"
#include "push/grip_hold.h"
#include "push/grip_proxy.h"
#include "push/subscriptions.h"

namespace pushrelay::push {
namespace {

// The origin is a closed port: a re-request ends in a 502.
constexpr const char* kConf = R"(
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:8080;
        location / { push_grip_proxy http://127.0.0.1:1; push_grip_connect_timeout 1s; }
    }
}
)";

// Registers every subscribe as a waiter on a channel whose uid is its key's position.
class HoldingBroker final : public broker::Broker {
  public:
    std::map<std::string, std::uint64_t> uids;
    std::map<std::uint64_t, std::int64_t> waiters;

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
        Hold::start(proxy_, exchange, std::make_shared<ProxiedRequest>(), instruction, response);
    }

  private:
    GripProxy& proxy_;
};

// Declared first in the fixture, so destroyed last: everything else stops its watchers before.
struct Loop {
    struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
    ~Loop() { ev_loop_destroy(loop); }
};

struct GripHoldTest : ::testing::Test {
    GripHoldTest()
        : config(conf::load_string(kConf, "/tmp/test.conf", "/tmp").config),
          loop(owned_loop.loop),
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
    std::unique_ptr<conf::Config> config;
    struct ev_loop* loop;
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
