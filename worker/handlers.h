// The request handlers: what a publisher or subscriber location does with a
// complete request, and the pieces of response they share. Internal to worker/.
#pragma once

#include <string>
#include <vector>

#include "worker/connection.h"

namespace pushrelay::worker {

class Worker;

// Runs the handler of the request's location (publisher, subscriber, or 404
// for a location that is neither).
void handle_request(Worker& worker, Connection& connection);

void handle_publisher(Worker& worker, Connection& connection, const std::string& key);
void handle_subscriber(Worker& worker, Connection& connection, const std::string& key);
// A push_stub_status location: GET answers with the server-wide figures (worker/status.cc).
void handle_status(Worker& worker, Connection& connection);

// 304 echoing the request's If-Modified-Since / If-None-Match as Last-Modified
// / Etag: the answer to an interval-poll with nothing new, to a subscriber
// timeout, and to a held subscriber when the worker stops gracefully.
void respond_not_modified(Connection& connection);

// An error or status response with a text body, plus the location's CORS header.
void respond_text(Connection& connection, int status, std::string_view text,
                  std::vector<protocol::Header> extra = {});

// 200 to a CORS preflight (OPTIONS) naming the methods and request headers allowed.
void respond_preflight(Connection& connection, std::string_view methods,
                       std::string_view allow_headers);

// A status with no body (and the location's CORS headers).
void respond_empty(Connection& connection, int status);

// Access-Control-Allow-Origin (and, for subscribers, -Expose-Headers) of a location.
void add_cors_headers(const conf::Location& location, std::vector<protocol::Header>& headers);

}  // namespace pushrelay::worker
