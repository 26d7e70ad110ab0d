#include "push/responses.h"

namespace pushrelay::push {

void add_cors_headers(const conf::Location& location, std::vector<protocol::Header>& headers) {
    headers.push_back({"Access-Control-Allow-Origin", location.push.allow_origin});
    if (location.push.role == conf::Role::Subscriber) {
        headers.push_back({"Access-Control-Expose-Headers", "Last-Modified, Etag"});
    }
}

void respond_text(http::Exchange& exchange, int status, std::string_view text,
                  std::vector<protocol::Header> extra) {
    extra.push_back({"Content-Type", "text/plain"});
    add_cors_headers(exchange.location(), extra);
    exchange.respond(status, extra, std::string(text));
}

void respond_preflight(http::Exchange& exchange, std::string_view methods,
                       std::string_view allow_headers) {
    std::vector<protocol::Header> headers{
        {"Access-Control-Allow-Methods", std::string(methods)},
        {"Access-Control-Allow-Headers", std::string(allow_headers)},
        {"Access-Control-Max-Age", "86400"}};
    add_cors_headers(exchange.location(), headers);
    exchange.respond(200, headers, "");
}

void respond_empty(http::Exchange& exchange, int status) {
    std::vector<protocol::Header> headers;
    add_cors_headers(exchange.location(), headers);
    exchange.respond(status, headers, "");
}

void respond_not_modified(http::Exchange& exchange) {
    const protocol::Request& req = exchange.request();
    std::vector<protocol::Header> headers;
    if (const std::string* since = req.header("If-Modified-Since"))
        headers.push_back({"Last-Modified", *since});
    if (const std::string* tag = req.header("If-None-Match"))
        headers.push_back({"Etag", *tag});
    headers.push_back({"Vary", "If-None-Match, If-Modified-Since"});
    add_cors_headers(exchange.location(), headers);
    exchange.respond(304, headers, "");
}

}  // namespace pushrelay::push
