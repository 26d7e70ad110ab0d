// push/responses.h — the small responses every push location shares: errors and notices with a
// text body, 304 Not Modified, CORS preflights, and the CORS headers themselves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/conf.h"
#include "http/connection.h"
#include "protocol/header.h"

namespace pushrelay::push {

// 304 echoing the request's If-Modified-Since / If-None-Match as Last-Modified / Etag: the
// answer to an interval-poll with nothing new, to a subscriber timeout, and to a held subscriber
// when the worker stops gracefully.
void respond_not_modified(http::Exchange& exchange);

// An error or status response with a text body, plus the location's CORS header.
void respond_text(http::Exchange& exchange, int status, std::string_view text,
                  std::vector<protocol::Header> extra = {});

// 200 to a CORS preflight (OPTIONS) naming the methods and request headers allowed.
void respond_preflight(http::Exchange& exchange, std::string_view methods,
                       std::string_view allow_headers);

// A status with no body (and the location's CORS headers).
void respond_empty(http::Exchange& exchange, int status);

// Access-Control-Allow-Origin (and, for subscribers, -Expose-Headers) of a location.
void add_cors_headers(const conf::Location& location, std::vector<protocol::Header>& headers);

}  // namespace pushrelay::push
