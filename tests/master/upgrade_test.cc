#include "master/upgrade.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::master {
namespace {

Handover sample() {
    Handover handover;
    handover.listeners = {{3, nullptr, "127.0.0.1:8080"}, {4, nullptr, "[::1]:8081"}};
    handover.segment_fd = 7;
    for (int slot = 0; slot < core::kMaxWorkerSlots; slot++) handover.wake_fds.push_back(10 + slot);
    handover.relay_fds = std::array<int, 2>{5, 6};
    handover.node_id = (std::uint64_t{1} << 53) - 1;
    return handover;
}

std::string wake_list() {
    std::string text;
    for (int slot = 0; slot < core::kMaxWorkerSlots; slot++)
        text += (slot == 0 ? "" : ",") + std::to_string(10 + slot);
    return text;
}

TEST(Handover, EncodesListenersSegmentWakeFdsRelayAndNode) {
    EXPECT_EQ(encode_handover(sample()), "listen=3:127.0.0.1:8080,4:[::1]:8081;segment=7;wake=" +
                                             wake_list() + ";relay=5,6;node=9007199254740991");
}

TEST(Handover, DecodesWhatItEncodes) {
    auto decoded = decode_handover(encode_handover(sample()));
    ASSERT_TRUE(std::holds_alternative<Handover>(decoded)) << std::get<std::string>(decoded);
    const Handover& h = std::get<Handover>(decoded);
    ASSERT_EQ(h.listeners.size(), 2u);
    EXPECT_EQ(h.listeners[0].fd, 3);
    EXPECT_EQ(h.listeners[0].name, "127.0.0.1:8080");
    EXPECT_EQ(h.listeners[1].fd, 4);
    EXPECT_EQ(h.listeners[1].name, "[::1]:8081");
    EXPECT_EQ(h.segment_fd, 7);
    EXPECT_EQ(h.wake_fds, sample().wake_fds);
    EXPECT_EQ(h.relay_fds, sample().relay_fds);
    EXPECT_EQ(h.node_id, sample().node_id);
}

// What a binary from before the relay's handover passes: the new master makes its own.
TEST(Handover, RelayAndNodeAreOptional) {
    auto decoded = decode_handover("listen=;segment=5;wake=" + wake_list());
    ASSERT_TRUE(std::holds_alternative<Handover>(decoded));
    EXPECT_FALSE(std::get<Handover>(decoded).relay_fds);
    EXPECT_FALSE(std::get<Handover>(decoded).node_id);
}

TEST(Handover, NoListenersIsValid) {
    auto decoded = decode_handover("listen=;segment=5;wake=" + wake_list());
    ASSERT_TRUE(std::holds_alternative<Handover>(decoded));
    EXPECT_TRUE(std::get<Handover>(decoded).listeners.empty());
}

TEST(Handover, RefusesMalformedTextQuotingIt) {
    const std::string wake = ";wake=" + wake_list();
    for (const std::string& text : {
             std::string("listen=x:1.2.3.4:80;segment=5") + wake,   // fd not a number
             std::string("listen=3;segment=5") + wake,              // no name
             std::string("listen=3:a;segment=-1") + wake,           // bad segment
             std::string("listen=3:a;segment=5;wake=1,2"),          // one per slot needed
             std::string("listen=3:a") + wake,                      // no segment
             std::string("listen=3:a;segment=5;segment=6") + wake,  // repeated
             std::string("listen=3:a;segment=5;colour=blue") + wake,
             std::string("listen=3:a;segment=5;relay=5") + wake,                // one of two
             std::string("listen=3:a;segment=5;relay=5,6,7") + wake,            // three
             std::string("listen=3:a;segment=5;node=9007199254740992") + wake,  // 2^53
             std::string("listen=3:a;segment=5;node=") + wake,
             std::string("listen=3:a;segment=5;node=1;node=2") + wake,
         }) {
        auto decoded = decode_handover(text);
        ASSERT_TRUE(std::holds_alternative<std::string>(decoded)) << text;
        EXPECT_NE(std::get<std::string>(decoded).find("PUSHRELAY_INHERIT: bad"), std::string::npos)
            << std::get<std::string>(decoded);
    }
}

TEST(Invocation, KeepsArgvAndAnAbsolutePath) {
    char arg0[] = "pushrelay", arg1[] = "-c", arg2[] = "x.conf";
    char* argv[] = {arg0, arg1, arg2};
    Invocation invocation = capture_invocation(3, argv);
    EXPECT_EQ(invocation.argv, (std::vector<std::string>{"pushrelay", "-c", "x.conf"}));
    ASSERT_FALSE(invocation.path.empty());
    EXPECT_EQ(invocation.path.front(), '/');
}

}  // namespace
}  // namespace pushrelay::master
