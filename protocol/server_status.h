// protocol/server_status.h — the body a push_stub_status location answers with.
//
// Owns the choice of format (a `format=` query argument, else the Accept header) and the exact
// bytes of each format: text in the manner of nginx's stub_status, JSON, YAML and the Prometheus
// text exposition format 0.0.4. Used by the worker processes; the figures come from shm/ (already
// summed over every worker) but this module only formats the numbers it is given. The bodies are
// specified byte for byte in doc/protocol-formats.md §6.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pushrelay::protocol {

// The server-wide figures, as counted across every worker at one moment.
struct ServerStatus {
    uint64_t channels = 0;     // channels that exist
    uint64_t subscribers = 0;  // subscribers held
    // Of those, by transport.
    uint64_t longpoll_subscribers = 0;
    uint64_t eventsource_subscribers = 0;
    uint64_t websocket_subscribers = 0;
    uint64_t chunked_subscribers = 0;
    uint64_t multipart_subscribers = 0;
    uint64_t grip_response_subscribers = 0;  // GRIP response holds (one per channel)
    uint64_t grip_stream_subscribers = 0;    // GRIP stream holds (one per channel)
    uint64_t messages = 0;                   // messages stored
    uint64_t published = 0;                  // messages published since the segment was created
    uint64_t delivered = 0;                  // messages handed to subscribers since then
    uint64_t grip_items_published = 0;       // GRIP items published (push_grip_publish) since then
    uint64_t grip_items_waiting = 0;         // GRIP items waiting for their predecessor now
    uint64_t grip_items_duplicate = 0;       // GRIP items dropped as repeats of a recent id
    uint64_t grip_rerequests = 0;            // GRIP re-requests sent to origins
    uint64_t grip_origin_errors = 0;         // GRIP origin failures (502s, cut bodies)
    uint64_t segment_used = 0;               // bytes of the shared segment in use
    uint64_t segment_total = 0;           // bytes of the shared segment (push_max_reserved_memory)
    uint64_t subscriber_share_used = 0;   // bytes of channels subscribers made, unpublished
    uint64_t subscriber_share_total = 0;  // their bound (push_max_subscriber_memory)
    uint64_t workers = 0;                 // worker processes running
    uint64_t connections = 0;             // client connections open
    uint64_t uptime_seconds = 0;          // since the master started
    uint64_t reloads = 0;                 // configuration reloads since then
    // Redis mode (shared/scale-out.md "Status and metrics"): these rows follow the others, and
    // only in Redis mode.
    bool redis_mode = false;
    uint64_t redis_up = 0;           // 1: the relay and every worker connected
    uint64_t redis_channels = 0;     // channels this node is subscribed to
    uint64_t redis_connects = 0;     // (re)connections made, all processes
    uint64_t redis_commands = 0;     // commands sent
    uint64_t redis_errors = 0;       // error replies and timeouts
    uint64_t redis_resyncs = 0;      // channels resynced
    uint64_t redis_recovered = 0;    // messages recovered by resync or gap fetch
    uint64_t cache_hits = 0;         // subscriber requests answered or held from the cache
    uint64_t cache_misses = 0;       // subscriber requests that needed Redis
    uint64_t redis_unavailable = 0;  // publishes answered 503
};

enum class StatusFormat { Text, Json, Yaml, Prometheus };

// The format for a request with this Accept value (nullptr: no Accept header) and raw query
// string (after '?', still percent-encoded). The first `format=` argument of the query (its name
// compared ignoring case, as nginx's $arg_format, see query_argument) wins when its value is
// text, json, yaml or prometheus (exactly, lower case); any other value is ignored.
// Else the first media range of Accept, in header order, that names one of the formats decides
// (case-insensitive, q-values ignored, as for channel info): `text/plain; version=0.0.4` or
// `application/openmetrics-text` → Prometheus, `application/json` → JSON, `application/yaml`,
// `application/x-yaml` or `text/yaml` → YAML, `text/plain` without that version → text. None of
// them: text.
StatusFormat choose_status_format(const std::string* accept, std::string_view query);

// The Content-Type of a body in `format`. The view refers to static storage.
std::string_view status_content_type(StatusFormat format);

// The body for `status` in `format`, exactly as doc/protocol-formats.md §6 shows it.
std::string format_server_status(const ServerStatus& status, StatusFormat format);

}  // namespace pushrelay::protocol
