// grip/publish_api.cc — see publish_api.h.
#include "grip/publish_api.h"

#include <optional>

namespace pushrelay::grip {

namespace {

using protocol::iequals;

std::optional<ReplyFormat> known_format(std::string_view type) {
    if (iequals(type, "text/plain") || iequals(type, "text/*") || iequals(type, "*/*"))
        return ReplyFormat::Text;
    if (iequals(type, "application/json") || iequals(type, "application/*"))
        return ReplyFormat::Json;
    return std::nullopt;
}

ApiRoute reply(ApiReply r) {
    return ApiRoute{ApiRequest::Reply, ReplyFormat::Text, std::move(r)};
}

ApiReply method_not_allowed(std::string_view method, std::string_view allow) {
    ApiReply r = error_reply(405, "Method not allowed: " + std::string(method) + ".\n");
    r.headers.push_back({"Allow", std::string(allow)});
    return r;
}

}  // namespace

std::optional<ReplyFormat> reply_format(const std::string* accept) {
    if (!accept)
        return ReplyFormat::Text;
    std::optional<ReplyFormat> chosen;
    for (const protocol::MediaRange& range : protocol::media_ranges(*accept)) {
        if (std::optional<ReplyFormat> f = known_format(range.type))
            chosen = f;
    }
    return chosen;
}

ApiRoute route_publish_request(std::string_view method, std::string_view path,
                               const std::string* accept) {
    std::optional<ReplyFormat> format = reply_format(accept);
    if (!format) {
        return reply(error_reply(
            406, "Not Acceptable. Supported formats are text/plain and application/json.\n"));
    }
    path = path.substr(0, path.find('?'));
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) {
        if (method != "GET" && method != "HEAD")
            return reply(method_not_allowed(method, "GET"));
        return reply(ApiReply{200, "text/plain", {}, "pushrelay GRIP API\n"});
    }
    ApiRequest request;
    if (path == "publish" || path == "publish/")
        request = ApiRequest::Publish;
    else if (path == "recover" || path == "recover/")
        request = ApiRequest::Recover;
    else
        return reply(error_reply(404, "Not Found\n"));
    if (method != "POST")
        return reply(method_not_allowed(method, "POST"));
    return ApiRoute{request, *format, {}};
}

ApiReply publish_reply(ApiRequest request, ReplyFormat format) {
    const std::string_view message = request == ApiRequest::Recover ? "Updated" : "Published";
    if (format == ReplyFormat::Json) {
        return ApiReply{
            200, "application/json", {}, "{\"message\":\"" + std::string(message) + "\"}\n"};
    }
    return ApiReply{200, "text/plain", {}, std::string(message) + "\n"};
}

ApiReply error_reply(int status, std::string body) {
    return ApiReply{status, "text/plain", {}, std::move(body)};
}

}  // namespace pushrelay::grip
