// redis/scripts.h's reply parsers on replies that do not have a script's shape (a Redis error,
// a missing or mistyped element): an error that names the script and the element, never a
// crash. The replies are RESP bytes read by hiredis's own reader; no server.
#include <gtest/gtest.h>

#include <memory>

#include "redis/scripts.h"

namespace pushrelay::redis {
namespace {

struct ReplyFree {
    void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

ReplyPtr read_resp(const std::string& bytes) {
    redisReader* reader = redisReaderCreate();
    redisReaderFeed(reader, bytes.data(), bytes.size());
    void* reply = nullptr;
    const int status = redisReaderGetReply(reader, &reply);
    redisReaderFree(reader);
    EXPECT_EQ(status, REDIS_OK);
    EXPECT_NE(reply, nullptr) << "incomplete RESP: " << bytes;
    return ReplyPtr(static_cast<redisReply*>(reply));
}

template <typename Parse>
std::string error_of(Parse parse, const std::string& resp) {
    const ReplyPtr reply = read_resp(resp);
    const auto parsed = parse(to_value(*reply));
    return parsed.index() == 1 ? std::get<1>(parsed) : "(parsed)";
}

TEST(Replies, ARedisErrorIsPassedOnWithTheScriptName) {
    EXPECT_EQ(error_of(parse_publish_reply, "-OOM command not allowed\r\n"),
              "publish: OOM command not allowed");
    EXPECT_EQ(error_of(parse_fetch_reply, ":1\r\n"), "fetch: the reply is not an array");
}

TEST(Replies, AWrongShapeNamesTheElement) {
    EXPECT_EQ(error_of(parse_publish_reply, "*1\r\n:5\r\n"), "publish: id is missing");
    EXPECT_EQ(error_of(parse_publish_reply, "*3\r\n:5\r\n:0\r\n$3\r\nxyz\r\n"),
              "publish: gen is not a hex generation");
    EXPECT_EQ(error_of(parse_count_reply, "*2\r\n$4\r\nmeh?\r\n:0\r\n"),
              "count: status is unknown");
    EXPECT_EQ(error_of(parse_kick_reply, "*2\r\n$2\r\nok\r\n:-4\r\n"),
              "kick: kick seq is negative");
    EXPECT_EQ(error_of(parse_info_reply, "*2\r\n$2\r\nok\r\n:1\r\n"),
              "info: gen has the wrong type");
    // A message of the fetch list without its body.
    EXPECT_EQ(error_of(parse_fetch_reply,
                       "*6\r\n$2\r\nok\r\n$1\r\na\r\n:0\r\n:10\r\n:0\r\n"
                       "*1\r\n*3\r\n:10\r\n:0\r\n$0\r\n\r\n"),
              "fetch: body is missing");
    EXPECT_EQ(error_of(parse_receipt_reply, "*5\r\n$2\r\nok\r\n:0\r\n:0\r\n:-7\r\n:0\r\n"),
              "receipt: oldest id is out of range");
}

TEST(Replies, WellFormedRepliesParse) {
    const ReplyPtr fetch = read_resp(
        "*6\r\n$2\r\nok\r\n$2\r\n1f\r\n:1\r\n:10\r\n:2\r\n"
        "*1\r\n*6\r\n:10\r\n:2\r\n$1\r\nt\r\n$1\r\nb\r\n:0\r\n$2\r\nev\r\n");
    const auto parsed = parse_fetch_reply(to_value(*fetch));
    ASSERT_EQ(parsed.index(), 0u) << std::get<1>(parsed);
    const FetchReply& reply = std::get<0>(parsed);
    EXPECT_EQ(reply.gen, 0x1fu);
    EXPECT_TRUE(reply.created);
    EXPECT_EQ(reply.newest, (core::MessageId{10, 2}));
    ASSERT_EQ(reply.messages.size(), 1u);
    EXPECT_EQ(reply.messages[0].body, "b");
    EXPECT_EQ(error_of(parse_fetch_reply, "*1\r\n$4\r\ngone\r\n"), "(parsed)");
    EXPECT_EQ(error_of(parse_info_reply, "*1\r\n$6\r\nabsent\r\n"), "(parsed)");
}

TEST(Replies, CallsCarryEveryKeyAndTheScriptsSha) {
    const ChannelKeys keys = channel_keys("pr", "c");
    const ScriptCall call = publish_call({keys, PublishCommand::SPublish}, PublishRequest{});
    EXPECT_EQ(call.keys, (std::vector<std::string>{keys.channel, keys.messages, keys.receipts,
                                                   keys.idempotency}));
    EXPECT_EQ(call.args[0], "SPUBLISH");
    EXPECT_EQ(call.args[1], keys.pubsub);
    const std::vector<std::string> argv = call.evalsha_argv();
    EXPECT_EQ(argv[0], "EVALSHA");
    EXPECT_EQ(argv[1], script_sha1(Script::Publish));
    EXPECT_EQ(argv[1].size(), 40u);
    EXPECT_EQ(argv[2], "4");
    EXPECT_NE(script_sha1(Script::Publish), script_sha1(Script::Fetch));
    EXPECT_EQ(retry_idempotency(0xab, 7), "n:ab:7");
    EXPECT_EQ(header_idempotency("k"), "h:k");
}

}  // namespace
}  // namespace pushrelay::redis
