// grip/item.h against grip.md "Publish API": the 400 texts (Pushpin 1.36's wording), each item
// field and format rule, all-or-nothing validation, and the packed form's round trip.
#include "grip/item.h"

#include <gtest/gtest.h>

namespace pushrelay::grip {
namespace {

std::vector<Item> items_of(std::string_view body) {
    auto r = parse_publish_body(body, 1024);
    if (auto* error = std::get_if<PublishError>(&r)) {
        ADD_FAILURE() << body << " -> " << *error;
        return {};
    }
    return std::get<std::vector<Item>>(r);
}

std::string error_of(std::string_view body) {
    auto r = parse_publish_body(body, 1024);
    if (auto* error = std::get_if<PublishError>(&r))
        return *error;
    return "(valid)";
}

// grip.md "Publish API", the reply table's 400 rows.
TEST(GripItems, BodyLevelErrors) {
    EXPECT_EQ(error_of(""), "Body is not valid JSON.\n");
    EXPECT_EQ(error_of("{"), "Body is not valid JSON.\n");
    EXPECT_EQ(error_of("[]"), "Invalid format.\n");
    EXPECT_EQ(error_of("\"x\""), "Invalid format.\n");
    EXPECT_EQ(error_of("{}"), "Invalid format: object does not contain 'items'\n");
    EXPECT_EQ(error_of(R"({"items":{}})"),
              "Invalid format: object contains 'items' with wrong type\n");
    EXPECT_TRUE(items_of(R"({"items":[]})").empty());
}

// grip.md "item field" and "format" tables: one fault each, with Pushpin's text.
TEST(GripItems, ItemErrorsUsePushpinWording) {
    const std::pair<const char*, const char*> cases[] = {
        {R"(["x"])", "publish item object is not an object"},
        {R"([{}])", "publish item object does not contain 'channel'"},
        {R"([{"channel":5}])", "publish item object contains 'channel' with wrong type"},
        {R"([{"channel":""}])", "publish item object contains 'channel' with invalid value"},
        {R"([{"channel":"c","id":3,"http-stream":{"content":""}}])",
         "publish item object contains 'id' with wrong type"},
        {R"([{"channel":"c","prev-id":null,"http-stream":{"content":""}}])",
         "publish item object contains 'prev-id' with wrong type"},
        {R"([{"channel":"c"}])", "no formats specified"},
        {R"([{"channel":"c","formats":{}}])", "no formats specified"},
        {R"([{"channel":"c","formats":[]}])",
         "publish item object contains 'formats' with wrong type"},
        {R"([{"channel":"c","http-response":[]}])", "'http-response' is not an object"},
        {R"([{"channel":"c","http-response":{"action":1}}])",
         "'http-response' contains 'action' with wrong type"},
        {R"([{"channel":"c","http-response":{"action":"refresh"}}])",
         "'http-response' contains 'action' with unknown value"},
        {R"([{"channel":"c","http-response":{"code":"abc","body":""}}])",
         "'http-response' contains 'code' with wrong type"},
        {R"([{"channel":"c","http-response":{"code":1000,"body":""}}])",
         "'http-response' contains 'code' with invalid value"},
        {R"([{"channel":"c","http-response":{"code":-1,"body":""}}])",
         "'http-response' contains 'code' with invalid value"},
        {R"([{"channel":"c","http-response":{"reason":2,"body":""}}])",
         "'http-response' contains 'reason' with wrong type"},
        {R"([{"channel":"c","http-response":{"headers":"x","body":""}}])",
         "'http-response' contains 'headers' with wrong type"},
        {R"([{"channel":"c","http-response":{"headers":["x"],"body":""}}])",
         "headers contains element with wrong type"},
        {R"([{"channel":"c","http-response":{"headers":[["a"]],"body":""}}])",
         "headers contains list with wrong number of elements"},
        {R"([{"channel":"c","http-response":{"headers":[[1,"v"]],"body":""}}])",
         "header contains name element with wrong type"},
        {R"([{"channel":"c","http-response":{"headers":[["a",1]],"body":""}}])",
         "header contains value element with wrong type"},
        {R"([{"channel":"c","http-response":{"headers":{"a":1},"body":""}}])",
         "headers contains 'a' with wrong type"},
        {R"([{"channel":"c","http-response":{"headers":{"a b":"v"},"body":""}}])",
         "headers contains 'a b' with invalid value"},
        {R"([{"channel":"c","http-response":{"body":5}}])",
         "'http-response' contains 'body' with wrong type"},
        {R"([{"channel":"c","http-response":{"body-bin":5}}])",
         "'http-response' contains 'body-bin' with wrong type"},
        {R"([{"channel":"c","http-response":{"body-bin":"!!"}}])",
         "'http-response' contains 'body-bin' with invalid value"},
        {R"([{"channel":"c","http-response":{"body-patch":[]}}])",
         "'http-response' contains 'body-patch', which is not supported"},
        {R"([{"channel":"c","http-response":{}}])",
         "'http-response' does not contain 'body', 'body-bin', or 'body-patch'"},
        {R"([{"channel":"c","http-stream":{}}])",
         "'http-stream' does not contain 'content' or 'content-bin'"},
        {R"([{"channel":"c","http-stream":{"content":1}}])",
         "'http-stream' contains 'content' with wrong type"},
        {R"([{"channel":"c","http-stream":{"action":"x"}}])",
         "'http-stream' contains 'action' with unknown value"},
        {R"([{"channel":"c","no-seq":1,"http-stream":{"content":""}}])",
         "publish item object contains 'no-seq' with wrong type"},
    };
    for (auto [items, message] : cases) {
        const std::string body = std::string(R"({"items":)") + items + "}";
        EXPECT_EQ(error_of(body), "Invalid format: " + std::string(message) + "\n") << items;
    }
}

TEST(GripItems, ChannelLongerThanTheLimit) {
    auto r =
        parse_publish_body(R"({"items":[{"channel":"abcd","http-stream":{"content":""}}]})", 3);
    ASSERT_TRUE(std::holds_alternative<PublishError>(r));
    EXPECT_EQ(std::get<PublishError>(r),
              "Invalid format: publish item object contains 'channel' with invalid value\n");
}

// "all-or-nothing": a bad second item fails the whole body.
TEST(GripItems, OneBadItemFailsTheBody) {
    EXPECT_EQ(
        error_of(R"({"items":[{"channel":"a","http-stream":{"content":"x"}},{"channel":""}]})"),
        "Invalid format: publish item object contains 'channel' with invalid value\n");
}

TEST(GripItems, HttpResponseDefaultsAndFields) {
    std::vector<Item> items = items_of(R"({"items":[
        {"channel":"a","formats":{"http-response":{"body":"hi"}}},
        {"channel":"b","id":"2","prev-id":"1","no-seq":true,
         "http-response":{"code":"304","headers":[["X-A","1"],["X-A","2"]],"body-bin":"AP8="}},
        {"channel":"c","http-response":{"code":299,"reason":"Fine","headers":{"B":"x","A":"y"},
         "body":""}},
        {"channel":"d","http-response":{"action":"hint"}},
        {"channel":"e","http-response":{"action":"close"}}]})");
    ASSERT_EQ(items.size(), 5u);
    const HttpResponseFormat& a = *items[0].http_response;
    EXPECT_EQ(a.action, Action::Send);
    EXPECT_EQ(a.code, 200);
    EXPECT_EQ(a.reason, "OK");
    EXPECT_EQ(a.body, "hi");
    EXPECT_FALSE(items[0].id);
    EXPECT_FALSE(items[0].http_stream);
    EXPECT_EQ(items[1].id, "2");
    EXPECT_EQ(items[1].prev_id, "1");
    EXPECT_TRUE(items[1].no_seq);
    EXPECT_EQ(items[1].http_response->code, 304);
    EXPECT_EQ(items[1].http_response->reason, "Not Modified");
    ASSERT_EQ(items[1].http_response->headers.size(), 2u);
    EXPECT_EQ(items[1].http_response->headers[1].value, "2");
    EXPECT_EQ(items[1].http_response->body, std::string("\0\xff", 2));
    EXPECT_EQ(items[2].http_response->reason, "Fine");
    // A headers object keeps the publisher's order (nlohmann::ordered_json).
    ASSERT_EQ(items[2].http_response->headers.size(), 2u);
    EXPECT_EQ(items[2].http_response->headers[0].name, "B");
    EXPECT_EQ(items[3].http_response->action, Action::Hint);
    EXPECT_EQ(items[4].http_response->action, Action::Close);
}

TEST(GripItems, HttpStreamAndIgnoredFormats) {
    std::vector<Item> items = items_of(R"({"items":[
        {"channel":"a","http-stream":{"content":"x\n"},"ws-message":{"content":"w"}},
        {"channel":"b","formats":{"http-stream":{"content-bin":"eQ==","content":"ignored"}}},
        {"channel":"c","http-stream":{"action":"close"},"meta":{"k":"v"},"size":3},
        {"channel":"d","ws-message":{"content":"only ws"}},
        {"channel":"e","formats":{"future-format":{}}}]})");
    ASSERT_EQ(items.size(), 5u);
    EXPECT_EQ(items[0].http_stream->content, "x\n");
    EXPECT_EQ(items[1].http_stream->content, "y");  // content-bin wins, as in Pushpin
    EXPECT_EQ(items[2].http_stream->action, Action::Close);
    EXPECT_FALSE(items[3].http_stream);
    EXPECT_FALSE(items[3].http_response);
    EXPECT_FALSE(items[4].http_stream);
}

TEST(GripItems, PackRoundTrip) {
    std::vector<Item> items = items_of(R"({"items":[
        {"channel":"a","http-response":{"body":"hi"}},
        {"channel":"b","id":"2","prev-id":"1","no-seq":true,
         "http-response":{"code":404,"reason":"Nope","headers":[["X","1"],["Y",""]],"body-bin":"AP8="},
         "http-stream":{"content-bin":"AAE="}},
        {"channel":"c\u0000d","http-stream":{"action":"hint"}},
        {"channel":"e","id":"","formats":{"x":{}}}]})");
    ASSERT_EQ(items.size(), 4u);
    for (const Item& item : items) {
        const std::string packed = pack_item(item);
        std::optional<Item> back = unpack_item(packed);
        ASSERT_TRUE(back) << item.channel;
        EXPECT_EQ(*back, item);
        // Every proper prefix and any trailing byte is refused.
        for (size_t n = 0; n < packed.size(); ++n) EXPECT_FALSE(unpack_item(packed.substr(0, n)));
        EXPECT_FALSE(unpack_item(packed + "x"));
    }
    std::string wrong_version = pack_item(items[0]);
    wrong_version[0] = 9;
    EXPECT_FALSE(unpack_item(wrong_version));
}

}  // namespace
}  // namespace pushrelay::grip
