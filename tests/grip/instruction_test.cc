// grip/instruction.h against grip.md "GRIP instructions": each header's syntax and its 502
// cases, the instruct body, and next-link resolution (Reliability).
#include "grip/instruction.h"

#include <gtest/gtest.h>

namespace pushrelay::grip {
namespace {

using Headers = std::vector<protocol::Header>;

Instruction ok(const Headers& headers, const Limits& limits = {}) {
    auto r = parse_instruction_headers(headers, limits);
    if (auto* e = std::get_if<InstructionError>(&r)) {
        ADD_FAILURE() << *e;
        return {};
    }
    return std::get<Instruction>(r);
}

bool fails(const Headers& headers) {
    return std::holds_alternative<InstructionError>(parse_instruction_headers(headers, {}));
}

Headers hold(std::string mode, std::vector<protocol::Header> more = {}) {
    Headers h{{"Grip-Hold", std::move(mode)}, {"Grip-Channel", "c"}};
    h.insert(h.end(), more.begin(), more.end());
    return h;
}

TEST(GripInstruction, DetectsGripResponses) {
    EXPECT_FALSE(is_grip_response({{"Content-Type", "text/plain"}, {"X-Grip", "1"}}));
    EXPECT_TRUE(is_grip_response({{"grip-status", "200"}}));
    EXPECT_TRUE(is_grip_response({{"Content-Type", "Application/Grip-Instruct; charset=utf-8"}}));
    EXPECT_TRUE(is_instruct_body({{"content-type", " application/grip-instruct"}}));
}

// Grip-Hold row.
TEST(GripInstruction, HoldModes) {
    EXPECT_EQ(ok(hold("response")).mode, HoldMode::Response);
    EXPECT_EQ(ok(hold(" stream ")).mode, HoldMode::Stream);
    EXPECT_EQ(ok({{"Grip-Channel", "c"}}).mode, HoldMode::None);
    EXPECT_TRUE(fails(hold("poll")));
    EXPECT_TRUE(fails({{"Grip-Hold", "response"}}));  // a hold needs a channel
}

// Grip-Channel row: repeatable and comma-separated, prev-id, filter ignored, empty name → 502.
TEST(GripInstruction, Channels) {
    Instruction in = ok({{"Grip-Hold", "response"},
                         {"Grip-Channel", "a, b; prev-id=3"},
                         {"Grip-Channel", "c; filter=skip-self; prev-id=\"x;y\""},
                         {"Grip-Channel", "a; prev-id=9"}});
    ASSERT_EQ(in.channels.size(), 3u);
    EXPECT_EQ(in.channels[0].name, "a");
    EXPECT_EQ(in.channels[0].prev_id, "9");
    EXPECT_EQ(in.channels[1].prev_id, "3");
    EXPECT_EQ(in.channels[2].name, "c");
    EXPECT_EQ(in.channels[2].prev_id, "x;y");
    EXPECT_TRUE(fails(hold("response", {{"Grip-Channel", "a,,b"}})));
    EXPECT_TRUE(fails(hold("response", {{"Grip-Channel", "; prev-id=1"}})));
    EXPECT_TRUE(fails(hold("response", {{"Grip-Channel", "a; prev-id=\"open"}})));
}

// Limits: channels past push_grip_max_channels ignored; a name over the id length → 502.
TEST(GripInstruction, ChannelLimits) {
    Instruction in = ok({{"Grip-Hold", "stream"}, {"Grip-Channel", "a, b, c, a"}}, Limits{2, 8});
    ASSERT_EQ(in.channels.size(), 2u);
    EXPECT_EQ(in.channels_ignored, 1u);
    auto r = parse_instruction_headers({{"Grip-Hold", "stream"}, {"Grip-Channel", "abcdefghi"}},
                                       Limits{2, 8});
    EXPECT_TRUE(std::holds_alternative<InstructionError>(r));
}

// Grip-Timeout row and hold_timeout()'s clamping.
TEST(GripInstruction, Timeout) {
    Instruction in = ok(hold("response", {{"Grip-Timeout", "3"}}));
    EXPECT_EQ(in.timeout, 3);
    EXPECT_EQ(hold_timeout(in, 55, 5), 5);
    EXPECT_EQ(hold_timeout(ok(hold("response", {{"Grip-Timeout", "30"}})), 55, 5), 30);
    EXPECT_EQ(hold_timeout(ok(hold("response")), 55, 5), 55);
    for (const char* bad : {"-1", "1.5", "", "ten", "99999999999999999999"})
        EXPECT_TRUE(fails(hold("response", {{"Grip-Timeout", bad}}))) << bad;
}

// Grip-Keep-Alive row.
TEST(GripInstruction, KeepAlive) {
    Instruction in =
        ok(hold("stream", {{"Grip-Keep-Alive", "ping\\n; format=cstring; timeout=20"}}));
    ASSERT_TRUE(in.keep_alive);
    EXPECT_EQ(in.keep_alive->data, "ping\n");
    EXPECT_EQ(in.keep_alive->timeout, 20);
    EXPECT_EQ(in.keep_alive->mode, KeepAliveMode::Idle);
    in = ok(hold("stream", {{"Grip-Keep-Alive", "a\\\\b\\r\\x41\\x7e; format=cstring"}}));
    EXPECT_EQ(in.keep_alive->data, "a\\b\rA~");
    EXPECT_EQ(in.keep_alive->timeout, 55);
    // What @fanoutio/grip's setKeepAlive writes for a tab (integration/test_grip_app.py).
    in = ok(hold("stream", {{"Grip-Keep-Alive", "keep\\talive\\n; format=cstring; timeout=1"}}));
    EXPECT_EQ(in.keep_alive->data, "keep\talive\n");
    in = ok(hold("stream", {{"Grip-Keep-Alive", "AAo=; format=base64; mode=interval; timeout=0"}}));
    EXPECT_EQ(in.keep_alive->data, std::string("\0\n", 2));
    EXPECT_EQ(in.keep_alive->mode, KeepAliveMode::Interval);
    EXPECT_EQ(in.keep_alive->timeout, 1);  // min 1
    in = ok(hold("stream", {{"Grip-Keep-Alive", "\":-)\"; format=raw"}}));
    EXPECT_EQ(in.keep_alive->data, ":-)");
    for (const char* bad :
         {"; format=raw", "x; format=hex", "x; mode=sometimes", "x\\q; format=cstring",
          "x\\x4; format=cstring", "x\\; format=cstring", "!!; format=base64", "x; timeout=soon"}) {
        EXPECT_TRUE(fails(hold("stream", {{"Grip-Keep-Alive", bad}}))) << bad;
    }
}

// Grip-Status row.
TEST(GripInstruction, Status) {
    Instruction in = ok({{"Grip-Status", "304"}});
    ASSERT_TRUE(in.status);
    EXPECT_EQ(in.status->code, 304);
    EXPECT_EQ(in.status->reason, "Not Modified");
    in = ok({{"Grip-Status", "299 Quite  Fine "}});
    EXPECT_EQ(in.status->code, 299);
    EXPECT_EQ(in.status->reason, "Quite  Fine");
    EXPECT_EQ(ok({{"Grip-Status", "0"}}).status->code, 0);
    for (const char* bad : {"1000", "-1", "OK", "", "20x"})
        EXPECT_TRUE(fails({{"Grip-Status", bad}})) << bad;
}

// Grip-Link row.
TEST(GripInstruction, Link) {
    Instruction in = ok(hold("stream", {{"Grip-Link", "</next?a=1,2>; rel=next; timeout=30"}}));
    ASSERT_TRUE(in.next);
    EXPECT_EQ(in.next->uri, "/next?a=1,2");
    EXPECT_EQ(in.next->timeout, 30);
    in = ok(hold("stream", {{"Grip-Link", "</gone>; rel=gone, </n>; rel=\"next\""}}));
    EXPECT_EQ(in.next->uri, "/n");
    EXPECT_EQ(in.next->timeout, 120);
    EXPECT_FALSE(ok(hold("stream", {{"Grip-Link", "</gone>; rel=gone"}})).next);
    for (const char* bad : {"/n; rel=next", "</n; rel=next", "</n>; rel=next; timeout=x",
                            "</n>; rel=next; timeout=0", "</n> junk; rel=next"}) {
        EXPECT_TRUE(fails(hold("stream", {{"Grip-Link", bad}}))) << bad;
    }
}

// Grip-Expose-Headers row.
TEST(GripInstruction, ExposeHeaders) {
    EXPECT_FALSE(ok(hold("response")).expose);
    Instruction in =
        ok(hold("response", {{"Grip-Expose-Headers", "X-A, X-B"}, {"Grip-Expose-Headers", "X-C"}}));
    ASSERT_TRUE(in.expose);
    EXPECT_EQ(*in.expose, (std::vector<std::string>{"X-A", "X-B", "X-C"}));
    EXPECT_TRUE(fails(hold("response", {{"Grip-Expose-Headers", "X A"}})));
}

std::variant<Instruction, InstructionError> instruct(int status, std::string_view body) {
    return parse_instruction(status, {{"Content-Type", "application/grip-instruct"}}, body, {});
}

// "Instruct body".
TEST(GripInstruction, InstructBody) {
    auto r = instruct(200, R"({"hold":{"mode":"stream","channels":[{"name":"a","prev-id":"7",
        "filters":[]},{"name":"b"}],"timeout":30,"keep-alive":{"content-bin":"eA==","timeout":20}},
        "response":{"code":201,"headers":[["X","1"]],"body":"hi"}})");
    ASSERT_TRUE(std::holds_alternative<Instruction>(r)) << std::get<InstructionError>(r);
    const Instruction& in = std::get<Instruction>(r);
    EXPECT_EQ(in.mode, HoldMode::Stream);
    ASSERT_EQ(in.channels.size(), 2u);
    EXPECT_EQ(in.channels[0].prev_id, "7");
    EXPECT_EQ(in.timeout, 30);
    EXPECT_EQ(in.keep_alive->data, "x");
    EXPECT_EQ(in.keep_alive->timeout, 20);
    ASSERT_TRUE(in.response);
    EXPECT_EQ(in.response->code, 201);
    EXPECT_EQ(in.response->reason, "Created");
    EXPECT_EQ(in.response->headers[0].name, "X");
    EXPECT_EQ(in.response->body, "hi");

    auto plain = instruct(200, R"({"response":{"headers":{"A":"1"},"body-bin":"AP8="}})");
    const Instruction& p = std::get<Instruction>(plain);
    EXPECT_EQ(p.mode, HoldMode::None);
    EXPECT_EQ(p.response->code, 200);
    EXPECT_EQ(p.response->body, std::string("\0\xff", 2));

    const Instruction empty = std::get<Instruction>(instruct(200, "{}"));
    EXPECT_EQ(empty.response->code, 200);
    EXPECT_EQ(empty.response->reason, "OK");
    EXPECT_TRUE(empty.response->headers.empty());
    EXPECT_EQ(std::get<Instruction>(instruct(200, R"({"hold":{"channels":[{"name":"a"}]}})")).mode,
              HoldMode::Response);
}

TEST(GripInstruction, InstructBodyErrors) {
    EXPECT_TRUE(std::holds_alternative<InstructionError>(instruct(201, "{}")));
    for (const char* bad :
         {"", "{", "[]", R"({"hold":1})", R"({"hold":{}})", R"({"hold":{"channels":[]}})",
          R"({"hold":{"channels":[{"name":""}]}})", R"({"hold":{"channels":[{}]}})",
          R"({"hold":{"channels":["a"]}})", R"({"hold":{"mode":"poll","channels":[{"name":"a"}]}})",
          R"({"hold":{"channels":[{"name":"a","prev-id":1}]}})",
          R"({"hold":{"channels":[{"name":"a"}],"timeout":-1}})",
          R"({"hold":{"channels":[{"name":"a"}],"keep-alive":{}}})",
          R"({"hold":{"channels":[{"name":"a"}],"keep-alive":{"content":""}}})",
          R"({"response":[]})", R"({"response":{"code":1000}})", R"({"response":{"body":1}})",
          R"({"response":{"headers":5}})", R"({"response":{"body-bin":"*"}})"}) {
        EXPECT_TRUE(std::holds_alternative<InstructionError>(instruct(200, bad))) << bad;
    }
}

std::string resolved(std::string_view uri, std::string_view request = "/a/b?q=1") {
    auto r = resolve_next_link(uri, request, "127.0.0.1:3000");
    if (auto* e = std::get_if<InstructionError>(&r))
        return "error: " + *e;
    return std::get<LinkTarget>(r).target;
}

// Reliability: the next link's URI resolved against the request URI; an absolute one must name
// the origin (decision: no open fetcher).
TEST(GripInstruction, ResolveNextLink) {
    EXPECT_EQ(resolved("/next?x=1"), "/next?x=1");
    EXPECT_EQ(resolved("next"), "/a/next");
    EXPECT_EQ(resolved("../up/./n#frag"), "/up/n");
    EXPECT_EQ(resolved("?page=2"), "/a/b?page=2");
    EXPECT_EQ(resolved(""), "/a/b?q=1");
    EXPECT_EQ(resolved("http://127.0.0.1:3000/n"), "/n");
    EXPECT_EQ(resolved("HTTP://127.0.0.1:3000"), "/");
    EXPECT_EQ(resolved("//127.0.0.1:3000?z"), "/?z");
    EXPECT_EQ(std::get<LinkTarget>(resolve_next_link("http://origin/x", "/", "origin:80")).target,
              "/x");
    EXPECT_EQ(std::get<LinkTarget>(resolve_next_link("http://[::1]/x", "/", "[::1]:80")).target,
              "/x");
    for (const char* bad :
         {"http://127.0.0.1:3001/n", "https://127.0.0.1:3000/n", "//evil.example/n",
          "http://user@127.0.0.1:3000/", "mailto:x", "http:/n", "/a b", "/a\r\nX: y"}) {
        EXPECT_TRUE(resolved(bad).starts_with("error: ")) << bad;
    }
}

}  // namespace
}  // namespace pushrelay::grip
