// The access log: one line per exchange, written when the exchange ends: a whole response when
// it is queued (for a held subscriber, when it is finally answered, so $request_time is the time
// it was held), a stream when it ends (its line carries every byte sent and its duration), a held
// request whose client left with 499, as nginx logs it. Formats are nginx's log_format text;
// `combined` is the default.
//
// Per worker process: each worker opens the files itself (O_APPEND, so lines
// from several workers never interleave) on first use, and USR1 reopens them.
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "conf/conf.h"
#include "protocol/request_parser.h"

namespace pushrelay::http::access_log {

struct Entry {
    const protocol::Request& request;
    const sockaddr* peer;
    int status;
    uint64_t body_bytes;  // $body_bytes_sent
    uint64_t bytes;       // $bytes_sent: head + body
    double request_time;  // seconds since the request's first byte
    double now;           // wall clock, seconds
};

// Writes the entry in the location's format, unless its access_log is off.
// Client-supplied text is escaped (\xNN) as nginx does.
void write(const conf::HttpSettings& settings, const Entry& entry);

// Closes every open log; the next write opens the path again (logrotate).
void reopen();

// The line for `entry` in `format` (exposed for unit tests). Supported
// variables: $remote_addr $remote_user $time_local $time_iso8601 $msec
// $request $request_method $request_uri $uri $args $status $body_bytes_sent
// $bytes_sent $request_time $request_length $http_NAME $pid; any other
// variable prints "-".
std::string format_line(std::string_view format, const Entry& entry);

}  // namespace pushrelay::http::access_log
