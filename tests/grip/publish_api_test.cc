// grip/publish_api.h against grip.md "Publish API": the path table, the Accept rule and the
// exact reply bodies.
#include "grip/publish_api.h"

#include <gtest/gtest.h>

namespace pushrelay::grip {
namespace {

ApiRoute route(std::string_view method, std::string_view path, const char* accept = nullptr) {
    std::string a = accept ? accept : "";
    return route_publish_request(method, path, accept ? &a : nullptr);
}

TEST(GripPublishApi, Paths) {
    ApiRoute banner = route("GET", "");
    EXPECT_EQ(banner.request, ApiRequest::Reply);
    EXPECT_EQ(banner.reply, (ApiReply{200, "text/plain", {}, "pushrelay GRIP API\n"}));
    EXPECT_EQ(route("GET", "/").reply.body, "pushrelay GRIP API\n");
    for (const char* p : {"publish", "publish/", "/publish/", "publish/?x=1"}) {
        EXPECT_EQ(route("POST", p).request, ApiRequest::Publish) << p;
    }
    for (const char* p : {"recover", "recover/"})
        EXPECT_EQ(route("POST", p).request, ApiRequest::Recover);
    EXPECT_EQ(route("POST", "publish//").reply, (ApiReply{404, "text/plain", {}, "Not Found\n"}));
    EXPECT_EQ(route("GET", "other").reply, (ApiReply{404, "text/plain", {}, "Not Found\n"}));
    EXPECT_EQ(route("GET", "publish/").reply,
              (ApiReply{405, "text/plain", {{"Allow", "POST"}}, "Method not allowed: GET.\n"}));
    EXPECT_EQ(route("PUT", "recover").reply.body, "Method not allowed: PUT.\n");
    EXPECT_EQ(route("POST", "").reply,
              (ApiReply{405, "text/plain", {{"Allow", "GET"}}, "Method not allowed: POST.\n"}));
}

// "With Accept, the last listed type it knows picks JSON or text".
TEST(GripPublishApi, AcceptPicksTheReplyFormat) {
    EXPECT_EQ(reply_format(nullptr), ReplyFormat::Text);
    const std::pair<const char*, ReplyFormat> cases[] = {
        {"application/json", ReplyFormat::Json},
        {"text/plain", ReplyFormat::Text},
        {"*/*", ReplyFormat::Text},
        {"application/*", ReplyFormat::Json},
        {"text/*;q=0.5", ReplyFormat::Text},
        {"text/plain, application/json", ReplyFormat::Json},
        {"application/json, text/html, */*", ReplyFormat::Text},
        {"application/json, image/png", ReplyFormat::Json},
        {"APPLICATION/JSON", ReplyFormat::Json},
    };
    for (auto [accept, format] : cases) {
        std::string a = accept;
        EXPECT_EQ(reply_format(&a), format) << accept;
        EXPECT_EQ(route("POST", "publish/", accept).format, format) << accept;
    }
    ApiRoute refused = route("POST", "publish/", "image/png, text/html");
    EXPECT_EQ(refused.request, ApiRequest::Reply);
    EXPECT_EQ(
        refused.reply,
        (ApiReply{406,
                  "text/plain",
                  {},
                  "Not Acceptable. Supported formats are text/plain and application/json.\n"}));
}

TEST(GripPublishApi, ReplyBodies) {
    EXPECT_EQ(publish_reply(ApiRequest::Publish, ReplyFormat::Text),
              (ApiReply{200, "text/plain", {}, "Published\n"}));
    EXPECT_EQ(publish_reply(ApiRequest::Publish, ReplyFormat::Json),
              (ApiReply{200, "application/json", {}, "{\"message\":\"Published\"}\n"}));
    EXPECT_EQ(publish_reply(ApiRequest::Recover, ReplyFormat::Text).body, "Updated\n");
    EXPECT_EQ(publish_reply(ApiRequest::Recover, ReplyFormat::Json).body,
              "{\"message\":\"Updated\"}\n");
    EXPECT_EQ(error_reply(400, "Invalid format.\n"),
              (ApiReply{400, "text/plain", {}, "Invalid format.\n"}));
}

}  // namespace
}  // namespace pushrelay::grip
