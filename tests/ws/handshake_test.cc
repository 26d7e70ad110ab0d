// ws/handshake.h against transports.md "WebSocket" (handshake errors, the 101 head, the
// subprotocol decision) and RFC 6455 §1.3's sample key.
#include "ws/handshake.h"

#include <gtest/gtest.h>

namespace pushrelay::ws {
namespace {

protocol::Request upgrade_request(std::vector<protocol::Header> extra = {}) {
    protocol::Request req;
    req.method = "GET";
    req.headers = {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}};
    for (auto& h : extra) req.headers.push_back(std::move(h));
    return req;
}

TEST(Handshake, AcceptKeyOfTheRfcSample) {
    EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, UpgradeRequestIsCaseInsensitive) {
    protocol::Request req = upgrade_request();
    EXPECT_TRUE(is_upgrade_request(req));
    req.headers = {{"connection", "keep-alive, UPGRADE"}, {"upgrade", "WebSocket"}};
    EXPECT_TRUE(is_upgrade_request(req));
    req.method = "POST";
    EXPECT_FALSE(is_upgrade_request(req));
    req.method = "GET";
    req.headers = {{"Connection", "keep-alive"}, {"Upgrade", "websocket"}};
    EXPECT_FALSE(is_upgrade_request(req));
    req.headers = {{"Connection", "upgrade"}, {"Upgrade", "h2c"}};
    EXPECT_FALSE(is_upgrade_request(req));
    req.headers = {{"Connection", "upgrade"}};
    EXPECT_FALSE(is_upgrade_request(req));
}

TEST(Handshake, ErrorsInTheirOrder) {
    auto refused = [](const protocol::Request& req) {
        auto r = check_handshake(req);
        EXPECT_TRUE(std::holds_alternative<Refused>(r));
        return std::holds_alternative<Refused>(r) ? std::get<Refused>(r) : Refused{0, ""};
    };
    Refused r = refused(upgrade_request({{"Sec-WebSocket-Key", "x"}}));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "No Sec-Websocket-Version header present");
    r = refused(upgrade_request({{"Sec-WebSocket-Version", "8"}, {"Sec-WebSocket-Key", "x"}}));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "Unsupported websocket protocol version (only version 13 is supported)");
    r = refused(upgrade_request({{"Sec-WebSocket-Version", "13"}}));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "No Sec-Websocket-Key header present");
}

TEST(Handshake, MetaSubprotocolAnywhereInTheList) {
    auto meta = [](std::vector<protocol::Header> protocols) {
        std::vector<protocol::Header> h{{"Sec-WebSocket-Version", "13"},
                                        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
        for (auto& p : protocols) h.push_back(std::move(p));
        auto r = check_handshake(upgrade_request(h));
        EXPECT_TRUE(std::holds_alternative<Accepted>(r));
        return std::get<Accepted>(r).meta;
    };
    EXPECT_FALSE(meta({}));
    EXPECT_TRUE(meta({{"Sec-WebSocket-Protocol", "ws+meta.nchan"}}));
    EXPECT_TRUE(meta({{"Sec-WebSocket-Protocol", "chat, ws+meta.nchan"}}));
    EXPECT_TRUE(
        meta({{"Sec-WebSocket-Protocol", "chat"}, {"Sec-WebSocket-Protocol", "ws+meta.nchan"}}));
    EXPECT_FALSE(meta({{"Sec-WebSocket-Protocol", "chat, ws+meta.nchanX"}}));
    EXPECT_FALSE(meta({{"Sec-WebSocket-Protocol", "WS+META.NCHAN"}}));
}

TEST(Handshake, ResponseHeadBytes) {
    Accepted plain{"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", false};
    EXPECT_EQ(response_head(plain),
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    Accepted meta{"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", true};
    EXPECT_EQ(response_head(meta),
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: ws+meta.nchan\r\n\r\n");
}

}  // namespace
}  // namespace pushrelay::ws
