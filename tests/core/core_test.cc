#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/message_id.h"
#include "core/peer_address.h"
#include "core/unique_fd.h"

namespace pushrelay::core {
namespace {

bool is_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}

TEST(UniqueFd, ClosesOnDestructionOnce) {
    int raw[2];
    ASSERT_EQ(pipe(raw), 0);
    close(raw[1]);
    {
        UniqueFd fd(raw[0]);
        EXPECT_TRUE(fd);
        EXPECT_EQ(fd.get(), raw[0]);
    }
    EXPECT_FALSE(is_open(raw[0]));
}

TEST(UniqueFd, MoveTransfersOwnershipAndReleaseGivesItUp) {
    int raw[2];
    ASSERT_EQ(pipe(raw), 0);
    UniqueFd a(raw[0]);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), raw[0]);
    UniqueFd c(raw[1]);
    c = std::move(b);
    EXPECT_FALSE(is_open(raw[1]));  // c's old descriptor was closed by the assignment
    EXPECT_TRUE(is_open(raw[0]));
    int kept = c.release();
    EXPECT_FALSE(c);
    EXPECT_TRUE(is_open(kept));
    close(kept);
}

TEST(PeerAddress, FormatsBothFamiliesAndNothingElse) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    EXPECT_EQ(peer_address(reinterpret_cast<sockaddr*>(&v4)), "127.0.0.1");
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    EXPECT_EQ(peer_address(reinterpret_cast<sockaddr*>(&v6)), "::1");
    sockaddr unix_peer{};
    unix_peer.sa_family = AF_UNIX;
    EXPECT_EQ(peer_address(&unix_peer), "-");
}

TEST(MessageId, OrdersByTimeThenTag) {
    EXPECT_LT((MessageId{10, 5}), (MessageId{11, 0}));
    EXPECT_LT((MessageId{10, 0}), (MessageId{10, 1}));
    EXPECT_EQ((MessageId{10, 1}), (MessageId{10, 1}));
}

TEST(Clock, WallClockIsNearTimeAndMonotonicNeverGoesBack) {
    EXPECT_NEAR(static_cast<double>(wall_clock_ms() / 1000), static_cast<double>(time(nullptr)), 2);
    std::uint64_t a = monotonic_us();
    EXPECT_LE(a, monotonic_us());
}

}  // namespace
}  // namespace pushrelay::core
