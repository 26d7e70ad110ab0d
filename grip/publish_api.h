// grip/publish_api.h — the HTTP face of a push_grip_publish location (grip.md "Publish API"):
// which request is which (banner, publish, recover, or an error reply), the reply format chosen
// by Accept, and the exact reply bodies.
//
// Run by the worker that takes the request. Pure: the caller reads the request, calls
// route_publish_request(), then for Publish validates the body with parse_publish_body()
// (grip/item.h) and answers with publish_reply() or error_reply().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::grip {

enum class ReplyFormat { Text, Json };

// A whole reply. `content_type` is "text/plain" or "application/json"; `headers` are extra
// ones (Allow); the caller adds the framing.
struct ApiReply {
    int status = 200;
    std::string content_type = "text/plain";
    std::vector<protocol::Header> headers;
    std::string body;

    bool operator==(const ApiReply&) const = default;
};

enum class ApiRequest {
    Reply,    // answer `reply` as it is (the banner, 404, 405, 406)
    Publish,  // validate the body, then publish_reply() or error_reply(400, …)
    Recover,  // forget every channel's last id, refresh every hold, then publish_reply()
};

struct ApiRoute {
    ApiRequest request = ApiRequest::Reply;
    ReplyFormat format = ReplyFormat::Text;  // for Publish and Recover
    ApiReply reply;                          // for Reply
};

// The reply format for an Accept value (nullptr: no Accept header → Text). Of the media ranges
// listed, the last one known decides: text/plain, text/* and */* give Text, application/json
// and application/* give Json. nullopt when none is known (→ 406).
std::optional<ReplyFormat> reply_format(const std::string* accept);

// Routes a request to the publish location. `path` is the request path after the location's
// prefix (leading slashes and any query are ignored): "" is the prefix itself (GET or HEAD: the
// banner "pushrelay GRIP API\n"; another method: 405 with Allow: GET), "publish" or "publish/"
// publishes and "recover" or "recover/" recovers (POST only, else 405 with Allow: POST and
// "Method not allowed: <METHOD>.\n"), anything else is 404 "Not Found\n". An unacceptable
// Accept is 406 first, as in Pushpin.
ApiRoute route_publish_request(std::string_view method, std::string_view path,
                               const std::string* accept);

// 200 after a publish ("Published\n" / {"message":"Published"}\n) or a recover ("Updated\n" /
// {"message":"Updated"}\n). Precondition: `request` is Publish or Recover.
ApiReply publish_reply(ApiRequest request, ReplyFormat format);

// An error reply: always text/plain, whatever Accept said (Pushpin's rule).
ApiReply error_reply(int status, std::string body);

}  // namespace pushrelay::grip
