#include "protocol/server_status.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <optional>
#include <vector>

#include "protocol/header.h"
#include "protocol/query.h"

namespace pushrelay::protocol {

namespace {

// One figure, under its name in each format. Every format lists the figures in this order, the
// open connections first as nginx's stub_status does.
struct Figure {
    uint64_t ServerStatus::*value;
    std::string_view label;   // text format
    std::string_view key;     // JSON and YAML
    std::string_view metric;  // Prometheus, without the pushrelay_ prefix
    std::string_view type;    // Prometheus: gauge or counter
    std::string_view help;    // Prometheus
};

constexpr std::array<Figure, 25> kFigures = {{
    {&ServerStatus::connections, "Active connections", "connections", "connections", "gauge",
     "Client connections open, across all workers."},
    {&ServerStatus::workers, "Workers", "workers", "workers", "gauge", "Worker processes running."},
    {&ServerStatus::channels, "Channels", "channels", "channels", "gauge", "Channels that exist."},
    {&ServerStatus::subscribers, "Subscribers", "subscribers", "subscribers", "gauge",
     "Subscribers held, across all workers."},
    {&ServerStatus::longpoll_subscribers, "Long-poll subscribers", "longpoll_subscribers",
     "subscribers_longpoll", "gauge", "Long-poll subscribers held, across all workers."},
    {&ServerStatus::eventsource_subscribers, "EventSource subscribers", "eventsource_subscribers",
     "subscribers_eventsource", "gauge", "EventSource streams held, across all workers."},
    {&ServerStatus::websocket_subscribers, "WebSocket subscribers", "websocket_subscribers",
     "subscribers_websocket", "gauge", "WebSocket subscribers held, across all workers."},
    {&ServerStatus::chunked_subscribers, "Chunked subscribers", "chunked_subscribers",
     "subscribers_chunked", "gauge", "HTTP chunked streams held, across all workers."},
    {&ServerStatus::multipart_subscribers, "Multipart subscribers", "multipart_subscribers",
     "subscribers_multipart", "gauge", "multipart/mixed streams held, across all workers."},
    {&ServerStatus::grip_response_subscribers, "GRIP response holds", "grip_response_subscribers",
     "subscribers_grip_response", "gauge",
     "GRIP response holds, one per channel, across all workers."},
    {&ServerStatus::grip_stream_subscribers, "GRIP stream holds", "grip_stream_subscribers",
     "subscribers_grip_stream", "gauge", "GRIP stream holds, one per channel, across all workers."},
    {&ServerStatus::messages, "Stored messages", "messages", "messages_stored", "gauge",
     "Messages stored in channel queues."},
    {&ServerStatus::published, "Published messages", "published", "messages_published_total",
     "counter", "Messages published."},
    {&ServerStatus::delivered, "Delivered messages", "delivered", "messages_delivered_total",
     "counter", "Messages delivered to subscribers, one per subscriber."},
    {&ServerStatus::grip_items_published, "GRIP items published", "grip_items_published",
     "grip_items_published_total", "counter",
     "GRIP items published through push_grip_publish (also counted as messages published)."},
    {&ServerStatus::grip_items_waiting, "GRIP items waiting", "grip_items_waiting",
     "grip_items_waiting", "gauge",
     "GRIP items waiting for their predecessor (prev-id) or push_grip_message_wait."},
    {&ServerStatus::grip_items_duplicate, "GRIP items dropped as duplicates",
     "grip_items_duplicate", "grip_items_duplicate_total", "counter",
     "GRIP items dropped because their id was seen within push_grip_id_cache_ttl."},
    {&ServerStatus::grip_rerequests, "GRIP re-requests", "grip_rerequests", "grip_rerequests_total",
     "counter", "Requests sent again to a GRIP origin for a hold."},
    {&ServerStatus::grip_origin_errors, "GRIP origin errors", "grip_origin_errors",
     "grip_origin_errors_total", "counter",
     "GRIP origin failures: 502 answers and response bodies cut short."},
    {&ServerStatus::segment_used, "Segment bytes used", "segment_used", "segment_used_bytes",
     "gauge", "Bytes of the shared memory segment in use."},
    {&ServerStatus::segment_total, "Segment bytes total", "segment_total", "segment_size_bytes",
     "gauge", "Size of the shared memory segment in bytes."},
    {&ServerStatus::subscriber_share_used, "Subscriber share bytes used", "subscriber_share_used",
     "subscriber_share_used_bytes", "gauge",
     "Bytes of the channels subscribers created that no publish has reached yet."},
    {&ServerStatus::subscriber_share_total, "Subscriber share bytes total",
     "subscriber_share_total", "subscriber_share_bytes", "gauge",
     "The most bytes those channels may take (push_max_subscriber_memory)."},
    {&ServerStatus::uptime_seconds, "Uptime seconds", "uptime_seconds", "uptime_seconds", "gauge",
     "Seconds since the server started."},
    {&ServerStatus::reloads, "Reloads", "reloads", "reloads_total", "counter",
     "Configuration reloads since the server started."},
}};

// Redis mode's rows, after the others.
constexpr std::array<Figure, 10> kRedisFigures = {{
    {&ServerStatus::redis_up, "Redis up", "redis_up", "redis_up", "gauge",
     "1 when the relay and every worker are connected to Redis and scripts are loaded."},
    {&ServerStatus::redis_channels, "Redis channels", "redis_channels", "redis_subscribed_channels",
     "gauge", "Channels this node is subscribed to."},
    {&ServerStatus::redis_connects, "Redis connects", "redis_connects", "redis_connects_total",
     "counter", "Redis (re)connections made, all processes."},
    {&ServerStatus::redis_commands, "Redis commands", "redis_commands", "redis_commands_total",
     "counter", "Redis commands sent."},
    {&ServerStatus::redis_errors, "Redis errors", "redis_errors", "redis_errors_total", "counter",
     "Redis error replies and timeouts."},
    {&ServerStatus::redis_resyncs, "Redis resyncs", "redis_resyncs", "redis_resyncs_total",
     "counter", "Channels resynced with Redis."},
    {&ServerStatus::redis_recovered, "Redis recovered", "redis_recovered",
     "redis_recovered_messages_total", "counter", "Messages recovered by a resync or a gap fetch."},
    {&ServerStatus::cache_hits, "Cache hits", "cache_hits", "cache_hits_total", "counter",
     "Subscriber requests answered or held from the node's cache."},
    {&ServerStatus::cache_misses, "Cache misses", "cache_misses", "cache_misses_total", "counter",
     "Subscriber requests that needed Redis."},
    {&ServerStatus::redis_unavailable, "Redis unavailable", "redis_unavailable",
     "redis_unavailable_total", "counter", "Publishes answered 503 because Redis was unavailable."},
}};

// Every figure `status` reports, in order.
std::vector<const Figure*> figures_of(const ServerStatus& status) {
    std::vector<const Figure*> out;
    for (const Figure& figure : kFigures) out.push_back(&figure);
    if (status.redis_mode)
        for (const Figure& figure : kRedisFigures) out.push_back(&figure);
    return out;
}

constexpr std::string_view kMetricPrefix = "pushrelay_";
constexpr std::string_view kPrometheusVersion = "0.0.4";

struct Name {
    std::string_view name;
    StatusFormat format;
};

constexpr std::array<Name, 4> kQueryNames = {{
    {"text", StatusFormat::Text},
    {"json", StatusFormat::Json},
    {"yaml", StatusFormat::Yaml},
    {"prometheus", StatusFormat::Prometheus},
}};

// Media types that name a format whatever their parameters (text/plain is decided apart).
constexpr std::array<Name, 5> kMediaTypes = {{
    {"application/openmetrics-text", StatusFormat::Prometheus},
    {"application/json", StatusFormat::Json},
    {"application/yaml", StatusFormat::Yaml},
    {"application/x-yaml", StatusFormat::Yaml},
    {"text/yaml", StatusFormat::Yaml},
}};

std::optional<StatusFormat> format_named(std::string_view value) {
    for (const Name& known : kQueryNames) {
        if (value == known.name) {
            return known.format;
        }
    }
    return std::nullopt;
}

// Whether the parameters of a media range (each after a ';') include version=0.0.4, quoted or not.
bool has_prometheus_version(std::string_view parameters) {
    while (!parameters.empty()) {
        size_t semicolon = parameters.find(';');
        std::string_view parameter = trim_ows(parameters.substr(0, semicolon));
        parameters = semicolon == std::string_view::npos ? std::string_view{}
                                                         : parameters.substr(semicolon + 1);
        size_t equals = parameter.find('=');
        if (equals == std::string_view::npos ||
            !iequals(trim_ows(parameter.substr(0, equals)), "version")) {
            continue;
        }
        std::string_view value = trim_ows(parameter.substr(equals + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
            value = value.substr(1, value.size() - 2);
        }
        return value == kPrometheusVersion;
    }
    return false;
}

std::optional<StatusFormat> match_media_range(const MediaRange& range) {
    if (iequals(range.type, "text/plain")) {
        return has_prometheus_version(range.parameters) ? StatusFormat::Prometheus
                                                        : StatusFormat::Text;
    }
    for (const Name& known : kMediaTypes) {
        if (iequals(range.type, known.name)) {
            return known.format;
        }
    }
    return std::nullopt;
}

std::optional<StatusFormat> format_accepted(std::string_view accept) {
    for (const MediaRange& range : media_ranges(accept)) {
        if (std::optional<StatusFormat> format = match_media_range(range)) {
            return format;
        }
    }
    return std::nullopt;
}

std::string format_text(const ServerStatus& status) {
    std::string body;
    for (const Figure* f : figures_of(status)) {
        const Figure& figure = *f;
        body.append(figure.label).append(": ");
        body.append(std::to_string(status.*figure.value)).push_back('\n');
    }
    return body;
}

std::string format_json(const ServerStatus& status) {
    std::string body = "{";
    for (const Figure* f : figures_of(status)) {
        const Figure& figure = *f;
        body.append(body.size() == 1 ? "\"" : ", \"").append(figure.key).append("\": ");
        body.append(std::to_string(status.*figure.value));
    }
    body.append("}\n");
    return body;
}

// yaml-cpp's emitter ends the document without a line end; one is added so that every format
// ends with one.
std::string format_yaml(const ServerStatus& status) {
    YAML::Emitter out;
    out << YAML::BeginDoc << YAML::BeginMap;
    for (const Figure* f : figures_of(status)) {
        const Figure& figure = *f;
        out << YAML::Key << std::string(figure.key) << YAML::Value << status.*figure.value;
    }
    out << YAML::EndMap;
    std::string body(out.c_str(), out.size());
    body.push_back('\n');
    return body;
}

// Exposition format 0.0.4: HELP and TYPE before each sample; every line, the last one too, ends
// with "\n". Samples carry no labels and no timestamp (the scraper stamps them).
std::string format_prometheus(const ServerStatus& status) {
    std::string body;
    for (const Figure* f : figures_of(status)) {
        const Figure& figure = *f;
        std::string name = std::string(kMetricPrefix).append(figure.metric);
        body.append("# HELP ").append(name).append(" ").append(figure.help).push_back('\n');
        body.append("# TYPE ").append(name).append(" ").append(figure.type).push_back('\n');
        body.append(name).append(" ").append(std::to_string(status.*figure.value)).push_back('\n');
    }
    return body;
}

}  // namespace

StatusFormat choose_status_format(const std::string* accept, std::string_view query) {
    if (std::optional<std::string_view> asked = query_argument(query, "format")) {
        if (std::optional<StatusFormat> format = format_named(*asked)) {
            return *format;
        }
    }
    if (accept != nullptr) {
        if (std::optional<StatusFormat> format = format_accepted(*accept)) {
            return *format;
        }
    }
    return StatusFormat::Text;
}

std::string_view status_content_type(StatusFormat format) {
    switch (format) {
        case StatusFormat::Json:
            return "application/json";
        case StatusFormat::Yaml:
            return "application/yaml";
        case StatusFormat::Prometheus:
            return "text/plain; version=0.0.4; charset=utf-8";
        case StatusFormat::Text:
            break;
    }
    return "text/plain";
}

std::string format_server_status(const ServerStatus& status, StatusFormat format) {
    switch (format) {
        case StatusFormat::Json:
            return format_json(status);
        case StatusFormat::Yaml:
            return format_yaml(status);
        case StatusFormat::Prometheus:
            return format_prometheus(status);
        case StatusFormat::Text:
            break;
    }
    return format_text(status);
}

}  // namespace pushrelay::protocol
