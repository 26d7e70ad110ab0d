// The directive table and the handlers of the plain (non-block) directives.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <utility>

#include "conf/directive_handlers.h"

namespace pushrelay::conf {
namespace {

constexpr uint64_t kMinReservedMemory = 64 * 1024;
constexpr uint32_t kMaxWorkerProcesses = 64;
constexpr uint32_t kMinWorkerConnections = 16;

// --- Value readers: st.args[index] into *out, or the error naming the directive. ---

MaybeError read(const Statement& st, size_t index, bool* out) {
    std::optional<bool> flag = parse_flag(st.args[index]);
    if (!flag) {
        return invalid_argument(st, index, "value", ", it must be \"on\" or \"off\"");
    }
    *out = *flag;
    return std::nullopt;
}

MaybeError read(const Statement& st, size_t index, Millis* out) {
    return read_time(st, index, out);
}

MaybeError read(const Statement& st, size_t index, uint64_t* size) {
    std::optional<uint64_t> bytes = parse_size(st.args[index]);
    if (!bytes) {
        return invalid_argument(st, index, "size",
                                " (expected bytes with an optional k, m or g suffix, as in 1m)");
    }
    *size = *bytes;
    return std::nullopt;
}

MaybeError read(const Statement& st, size_t index, uint32_t* out) {
    return read_count(st, index, 0, out);
}

// Text that ends up in response headers: a control character would split the header.
MaybeError read(const Statement& st, size_t index, std::string* out) {
    const std::string& text = st.args[index];
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
        return invalid_argument(st, index, "value", ": control characters are not allowed");
    }
    *out = text;
    return std::nullopt;
}

// push_subscriber's transports, with Nchan's spellings.
constexpr Choices<uint8_t, 18> kTransports{{
    {"long-poll", kTransportLongPoll},
    {"longpoll", kTransportLongPoll},
    {"interval-poll", kTransportIntervalPoll},
    {"intervalpoll", kTransportIntervalPoll},
    {"poll", kTransportIntervalPoll},
    {"eventsource", kTransportEventSource},
    {"es", kTransportEventSource},
    {"sse", kTransportEventSource},
    {"event-source", kTransportEventSource},
    {"chunked", kTransportChunked},
    {"http-chunked", kTransportChunked},
    {"multipart-mixed", kTransportMultipart},
    {"multipart", kTransportMultipart},
    {"multipart/mixed", kTransportMultipart},
    {"http-multipart", kTransportMultipart},
    {"websocket", kTransportWebSocket},
    {"ws", kTransportWebSocket},
    {"websockets", kTransportWebSocket},
}};
constexpr Choices<uint8_t, 2> kPublishers{{
    {"http", kPublishHttp},
    {"websocket", kPublishWebSocket},
}};
constexpr Choices<Concurrency, 3> kConcurrencies{{
    {"broadcast", Concurrency::Broadcast},
    {"first", Concurrency::First},
    {"last", Concurrency::Last},
}};
constexpr Choices<LogLevel, 8> kLogLevels{{
    {"debug", LogLevel::Debug},
    {"info", LogLevel::Info},
    {"notice", LogLevel::Notice},
    {"warn", LogLevel::Warn},
    {"error", LogLevel::Error},
    {"crit", LogLevel::Crit},
    {"alert", LogLevel::Alert},
    {"emerg", LogLevel::Emerg},
}};

MaybeError read(const Statement& st, size_t index, Concurrency* out) {
    return read_choice(st, index, kConcurrencies, out);
}

// A path: relative ones are taken against the prefix.
MaybeError read_path(const Apply& block, const Statement& st, size_t index, std::string* out) {
    if (st.args[index].empty()) {
        return invalid_argument(st, index, "path", ": it is empty");
    }
    *out = resolve_path(block.shared.config->prefix, st.args[index]);
    return std::nullopt;
}

// --- Handlers storing one value; Field is a member pointer into the target. ---

template <auto Field>
MaybeError store_push(Apply& block, const Statement& st) {
    return read(st, 0, &(block.scope->push.*Field));
}

template <auto Field>
MaybeError store_http(Apply& block, const Statement& st) {
    return read(st, 0, &(block.scope->http.*Field));
}

template <auto Field>
MaybeError store_main(Apply& block, const Statement& st) {
    return read(st, 0, &(block.shared.config->*Field));
}

// --- Push directives. ---

// Bare push_publisher takes both, as Nchan's nchan_publisher.
MaybeError handle_publisher(Apply& block, const Statement& st) {
    block.scope->push.role = Role::Publisher;
    uint8_t by = st.args.empty() ? kPublishHttp | kPublishWebSocket : 0;
    for (size_t i = 0; i < st.args.size(); ++i) {
        uint8_t bit = 0;
        if (MaybeError error = read_choice(st, i, kPublishers, &bit))
            return error;
        by |= bit;
    }
    block.scope->push.publish_by = by;
    return std::nullopt;
}

MaybeError handle_subscriber(Apply& block, const Statement& st) {
    block.scope->push.role = Role::Subscriber;
    uint8_t transports = st.args.empty() ? kTransportLongPoll : 0;
    for (size_t i = 0; i < st.args.size(); ++i) {
        const auto* found = std::find_if(kTransports.begin(), kTransports.end(),
                                         [&](const auto& c) { return c.first == st.args[i]; });
        if (found == kTransports.end()) {
            return invalid_argument(st, i, "transport",
                                    ", it must be \"long-poll\", \"interval-poll\", "
                                    "\"eventsource\", \"websocket\", \"chunked\" or "
                                    "\"multipart-mixed\" (or one of Nchan's spellings of them)");
        }
        transports |= found->second;
    }
    block.scope->push.transports = transports;
    return std::nullopt;
}

MaybeError handle_first_message(Apply& block, const Statement& st) {
    const std::string& text = st.args[0];
    int32_t& out = block.scope->push.first_message;
    if (text == "oldest") {
        out = 1;
        return std::nullopt;
    }
    if (text == "newest") {
        out = 0;
        return std::nullopt;
    }
    std::string_view digits = text;
    const bool negative = !digits.empty() && digits.front() == '-';
    if (negative)
        digits.remove_prefix(1);
    std::optional<uint32_t> n = parse_count(digits);
    if (!n || *n > 32) {
        return invalid_argument(st, 0, "value",
                                ", it must be \"oldest\", \"newest\" or a number from -32 to 32");
    }
    out = negative ? -static_cast<int32_t>(*n) : static_cast<int32_t>(*n);
    return std::nullopt;
}

constexpr Choices<ForwardedFor, 3> kForwardedFor{{
    {"append", ForwardedFor::Append},
    {"replace", ForwardedFor::Replace},
    {"off", ForwardedFor::Off},
}};

MaybeError read(const Statement& st, size_t index, ForwardedFor* out) {
    return read_choice(st, index, kForwardedFor, out);
}

// `http://host[:port]` with nothing after the authority but an optional `/`; the host an IP
// literal (`[v6]` too) or a name that must resolve now (grip.md: resolved at conf load).
MaybeError handle_grip_proxy(Apply& block, const Statement& st) {
    GripSettings& grip = block.scope->push.grip;
    std::string_view url = st.args[0];
    constexpr std::string_view kScheme = "http://";
    if (!url.starts_with(kScheme))
        return invalid_argument(st, 0, "origin",
                                ", it must be http://host:port (https is not supported yet)");
    url.remove_prefix(kScheme.size());
    if (url.ends_with('/'))
        url.remove_suffix(1);
    if (url.find('/') != std::string_view::npos || url.find('?') != std::string_view::npos)
        return invalid_argument(st, 0, "origin", ": a path is not supported yet");
    std::string_view host = url, port_text;
    if (url.starts_with('[')) {
        size_t close = url.find(']');
        if (close == std::string_view::npos)
            return invalid_argument(st, 0, "origin", ": unterminated [IPv6 address]");
        host = url.substr(1, close - 1);
        std::string_view rest = url.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':'))
            return invalid_argument(st, 0, "origin", ": expected :port after ]");
        port_text = rest.empty() ? rest : rest.substr(1);
    } else if (size_t colon = url.rfind(':'); colon != std::string_view::npos) {
        host = url.substr(0, colon);
        port_text = url.substr(colon + 1);
    }
    std::optional<uint32_t> port = port_text.empty() ? 80u : parse_count(port_text);
    if (host.empty() || !port || *port == 0 || *port > 65535)
        return invalid_argument(st, 0, "origin", ", it must be http://host:port");
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string host_text(host);
    int rc = getaddrinfo(host_text.c_str(), nullptr, &hints, &found);
    if (rc != 0)
        return invalid_argument(
            st, 0, "origin",
            std::string(": cannot resolve \"") + host_text + "\": " + gai_strerror(rc));
    freeaddrinfo(found);
    grip.origin_host = host_text;
    grip.origin_port = static_cast<uint16_t>(*port);
    block.scope->push.role = Role::GripProxy;
    return std::nullopt;
}

MaybeError handle_grip_publish(Apply& block, const Statement&) {
    block.scope->push.role = Role::GripPublish;
    return std::nullopt;
}

template <auto Field>
MaybeError store_grip(Apply& block, const Statement& st) {
    return read(st, 0, &(block.scope->push.grip.*Field));
}

MaybeError handle_stub_status(Apply& block, const Statement&) {
    block.scope->push.role = Role::Status;
    return std::nullopt;
}

Origin origin_of(const Apply& block, const Statement& st) {
    return Origin{st.file, st.line, block.shared.applied};
}

MaybeError handle_min_buffer(Apply& block, const Statement& st) {
    block.scope->min_buffer_origin = origin_of(block, st);
    return read(st, 0, &block.scope->push.min_buffer);
}

MaybeError handle_max_buffer(Apply& block, const Statement& st) {
    block.scope->max_buffer_origin = origin_of(block, st);
    return read(st, 0, &block.scope->push.max_buffer);
}

MaybeError handle_buffer_length(Apply& block, const Statement& st) {
    if (MaybeError err = handle_min_buffer(block, st)) {
        return err;
    }
    return handle_max_buffer(block, st);
}

MaybeError handle_max_channel_id_length(Apply& block, const Statement& st) {
    return read_count(st, 0, 1, &block.scope->push.max_channel_id_length);
}

// A value with variables (`set`, push_channel_id): it may read those set before it in scope.
Parsed<Template> compile_value(const Scope& scope, std::string_view text) {
    const std::vector<SetDirective>& sets = scope.sets;
    return Template::compile(text, [&sets](std::string_view var) {
        return std::any_of(sets.begin(), sets.end(),
                           [var](const SetDirective& set) { return set.variable == var; });
    });
}

// Each value is a template like a `set` value.
MaybeError handle_channel_id(Apply& block, const Statement& st) {
    std::vector<Template> values;
    for (const std::string& text : st.args) {
        Parsed<Template> value = compile_value(*block.scope, text);
        if (!value.value) {
            return error_at(st, value.error + " in \"push_channel_id\" directive");
        }
        values.push_back(std::move(*value.value));
    }
    block.scope->channel_ids = std::move(values);
    return std::nullopt;
}

MaybeError handle_reserved_memory(Apply& block, const Statement& st) {
    uint64_t bytes = 0;
    if (MaybeError err = read(st, 0, &bytes)) {
        return err;
    }
    if (bytes < kMinReservedMemory) {
        return invalid_argument(st, 0, "size", ": the shared segment needs at least 64k");
    }
    block.shared.config->push_max_reserved_memory = bytes;
    return std::nullopt;
}

// "25%" (of the segment) or a size.
MaybeError handle_subscriber_memory(Apply& block, const Statement& st) {
    SubscriberShare& share = block.shared.config->push_max_subscriber_memory;
    std::string_view text = st.args[0];
    if (!text.ends_with('%')) {
        uint64_t bytes = 0;
        if (MaybeError err = read(st, 0, &bytes)) {
            return err;
        }
        share.bytes = bytes;
        return std::nullopt;
    }
    std::optional<uint32_t> percent = parse_count(text.substr(0, text.size() - 1));
    if (!percent || *percent > 100) {
        return invalid_argument(st, 0, "share",
                                " (expected a percentage of push_max_reserved_memory from 0% to "
                                "100%, or a size as in 16m)");
    }
    share = SubscriberShare{.bytes = std::nullopt, .percent = *percent};
    return std::nullopt;
}

// --- Core directives. ---

MaybeError handle_worker_processes(Apply& block, const Statement& st) {
    uint32_t n = 0;
    if (st.args[0] == "auto") {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = static_cast<uint32_t>(std::clamp<long>(cpus, 1, kMaxWorkerProcesses));
    } else if (MaybeError err = read_count(st, 0, 1, &n)) {
        return err;
    }
    if (n > kMaxWorkerProcesses) {
        return invalid_argument(st, 0, "number", ", it must be \"auto\" or 1 to 64");
    }
    block.shared.config->worker_processes = static_cast<int>(n);
    return std::nullopt;
}

MaybeError handle_rlimit_nofile(Apply& block, const Statement& st) {
    uint32_t n = 0;
    if (MaybeError err = read_count(st, 0, 1, &n)) {
        return err;
    }
    block.shared.config->worker_rlimit_nofile = n;
    return std::nullopt;
}

MaybeError handle_worker_connections(Apply& block, const Statement& st) {
    uint32_t n = 0;
    if (MaybeError err = read_count(st, 0, kMinWorkerConnections, &n)) {
        return err;
    }
    if (n > INT_MAX) {
        return invalid_argument(st, 0, "number", ": it is too large");
    }
    block.shared.config->worker_connections = static_cast<int>(n);
    return std::nullopt;
}

MaybeError handle_pid(Apply& block, const Statement& st) {
    return read_path(block, st, 0, &block.shared.config->pid_path);
}

MaybeError handle_error_log(Apply& block, const Statement& st) {
    Config& config = *block.shared.config;
    config.error_log_level = LogLevel::Error;
    if (st.args.size() == 2) {
        if (MaybeError err = read_choice(st, 1, kLogLevels, &config.error_log_level)) {
            return err;
        }
    }
    if (st.args[0] == "stderr") {
        config.error_log_path = "stderr";
        return std::nullopt;
    }
    return read_path(block, st, 0, &config.error_log_path);
}

// Never runs: the parser replaces a well-formed include with the files it names, and the
// table's checks reject a malformed one before any handler.
MaybeError handle_include(Apply&, const Statement&) {
    return std::nullopt;
}

MaybeError handle_server_name(Apply& block, const Statement& st) {
    block.server->names.insert(block.server->names.end(), st.args.begin(), st.args.end());
    return std::nullopt;
}

MaybeError handle_access_log(Apply& block, const Statement& st) {
    HttpSettings& http = block.scope->http;
    http.access_log_off = st.args[0] == "off";
    if (http.access_log_off) {
        if (st.args.size() > 1) {
            return error_at(st, "\"access_log off\" takes no format");
        }
        http.access_log_path.clear();
        http.access_log_format.clear();
        return std::nullopt;
    }
    std::string_view format_name = "combined";
    if (st.args.size() > 1) {
        format_name = st.args[1];
    }
    auto format = block.shared.log_formats.find(format_name);
    if (format == block.shared.log_formats.end()) {
        return error_at(st, "unknown log format " + quoted(format_name) +
                                " (define it with log_format before this line)");
    }
    http.access_log_format = format->second;
    return read_path(block, st, 0, &http.access_log_path);
}

MaybeError handle_log_format(Apply& block, const Statement& st) {
    std::string text;
    for (size_t i = 1; i < st.args.size(); ++i) {
        text += st.args[i];
    }
    auto [it, inserted] = block.shared.log_formats.emplace(st.args[0], std::move(text));
    if (!inserted) {
        return error_at(st, "duplicate log_format name " + quoted(st.args[0]));
    }
    return std::nullopt;
}

MaybeError add_access_rule(Apply& block, const Statement& st, bool allow) {
    std::optional<AccessRule> rule = parse_access_rule(allow, st.args[0]);
    if (!rule) {
        return invalid_argument(st, 0, "address",
                                " (expected all, an IPv4 or IPv6 address, or a CIDR such as "
                                "10.0.0.0/8 or ::1/128)");
    }
    std::vector<AccessRule>& rules = block.scope->http.access;
    if (!block.own_access_rules) {
        rules.clear();  // a level with rules of its own does not inherit its parent's
        block.own_access_rules = true;
    }
    rules.push_back(*rule);
    return std::nullopt;
}

MaybeError handle_allow(Apply& block, const Statement& st) {
    return add_access_rule(block, st, true);
}

MaybeError handle_deny(Apply& block, const Statement& st) {
    return add_access_rule(block, st, false);
}

MaybeError handle_set(Apply& block, const Statement& st) {
    std::string_view target = st.args[0];
    if (!target.starts_with('$') || !is_variable_name(target.substr(1))) {
        return invalid_argument(st, 0, "variable name",
                                ", it must be \"$\" followed by letters, digits or \"_\"");
    }
    std::string_view name = canonical_variable(target.substr(1));
    if (is_builtin_variable(name)) {
        return error_at(
            st, "the variable " + quoted(target) + " comes from the request and cannot be set");
    }
    Parsed<Template> value = compile_value(*block.scope, st.args[1]);
    if (!value.value) {
        return error_at(st, value.error + " in \"set\" directive");
    }
    block.scope->sets.push_back({std::string(name), std::move(*value.value)});
    return std::nullopt;
}

constexpr unsigned kHttpAndBelow = kHttp | kServer | kLocation;
constexpr unsigned kServerAndBelow = kServer | kLocation;

const std::vector<DirectiveSpec>& table() {
    // One row per directive: name, aliases, contexts, min and max args, default, flags,
    // exclusive group, handler. Kept one per line so that the table reads as a table.
    // clang-format off
    static const std::vector<DirectiveSpec> specs{
        // Push directives.
        {"push_publisher", {"push_sender"}, kServerAndBelow, 0, 2, "", 0, "push role", handle_publisher},
        {"push_subscriber", {"push_listener"}, kServerAndBelow, 0, kUnlimitedArgs, "long-poll", kArgumentDefault, "push role", handle_subscriber},
        {"push_stub_status", {}, kLocation, 0, 0, "", 0, "push role", handle_stub_status},
        {"push_grip_proxy", {}, kLocation, 1, 1, "", 0, "push role", handle_grip_proxy},
        {"push_grip_publish", {}, kLocation, 0, 0, "", 0, "push role", handle_grip_publish},
        {"push_grip_sig_key", {}, kHttpAndBelow, 1, 1, "changeme", 0, "", store_grip<&GripSettings::sig_key>},
        {"push_grip_sig_iss", {}, kHttpAndBelow, 1, 1, "pushpin", 0, "", store_grip<&GripSettings::sig_iss>},
        {"push_grip_upstream_key", {}, kHttpAndBelow, 1, 1, "", 0, "", store_grip<&GripSettings::upstream_key>},
        {"push_grip_hold_timeout", {}, kHttpAndBelow, 1, 1, "55s", 0, "", store_grip<&GripSettings::hold_timeout>},
        {"push_grip_hold_timeout_min", {}, kHttpAndBelow, 1, 1, "5s", 0, "", store_grip<&GripSettings::hold_timeout_min>},
        {"push_grip_message_wait", {}, kHttp, 1, 1, "5s", 0, "", store_grip<&GripSettings::message_wait>},
        {"push_grip_id_cache_ttl", {}, kHttp, 1, 1, "60s", 0, "", store_grip<&GripSettings::id_cache_ttl>},
        {"push_grip_max_channels", {}, kHttpAndBelow, 1, 1, "20", 0, "", store_grip<&GripSettings::max_channels>},
        {"push_grip_max_instruct_size", {}, kHttpAndBelow, 1, 1, "100k", 0, "", store_grip<&GripSettings::max_instruct_size>},
        {"push_grip_stream_buffer", {}, kHttpAndBelow, 1, 1, "1m", 0, "", store_grip<&GripSettings::stream_buffer>},
        {"push_grip_connect_timeout", {}, kHttpAndBelow, 1, 1, "5s", 0, "", store_grip<&GripSettings::connect_timeout>},
        {"push_grip_read_timeout", {}, kHttpAndBelow, 1, 1, "60s", 0, "", store_grip<&GripSettings::read_timeout>},
        {"push_grip_keepalive", {}, kHttpAndBelow, 1, 1, "32", 0, "", store_grip<&GripSettings::keepalive>},
        {"push_grip_keepalive_timeout", {}, kHttpAndBelow, 1, 1, "60s", 0, "", store_grip<&GripSettings::keepalive_timeout>},
        {"push_grip_x_forwarded_for", {}, kHttpAndBelow, 1, 1, "append", 0, "", store_grip<&GripSettings::x_forwarded_for>},
        {"push_grip_debug", {}, kHttpAndBelow, 1, 1, "off", 0, "", store_grip<&GripSettings::debug>},
        {"push_websocket_ping_interval", {}, kHttpAndBelow, 1, 1, "0", 0, "", store_push<&PushSettings::websocket_ping_interval>},
        {"push_subscriber_first_message", {}, kHttpAndBelow, 1, 1, "oldest", 0, "", handle_first_message},
        {"push_subscriber_concurrency", {"push_listener_concurrency"}, kHttpAndBelow, 1, 1, "broadcast", 0, "", store_push<&PushSettings::concurrency>},
        {"push_store_messages", {"push_queue_messages"}, kHttpAndBelow, 1, 1, "on", 0, "", store_push<&PushSettings::store_messages>},
        {"push_max_reserved_memory", {"push_buffer_size"}, kHttp, 1, 1, "128M", 0, "", handle_reserved_memory},
        {"push_max_subscriber_memory", {}, kHttp, 1, 1, "25%", 0, "", handle_subscriber_memory},
        {"push_min_message_buffer_length", {}, kHttpAndBelow, 1, 1, "1", 0, "", handle_min_buffer},
        {"push_max_message_buffer_length", {}, kHttpAndBelow, 1, 1, "10", 0, "", handle_max_buffer},
        {"push_message_buffer_length", {}, kHttpAndBelow, 1, 1, "", 0, "", handle_buffer_length},
        {"push_message_timeout", {}, kHttpAndBelow, 1, 1, "1h", 0, "", store_push<&PushSettings::message_timeout>},
        {"push_min_message_recipients", {}, kHttpAndBelow, 1, 1, "0", 0, "", store_push<&PushSettings::min_recipients>},
        {"push_delete_oldest_received_message", {}, kHttpAndBelow, 1, 1, "off", 0, "", store_push<&PushSettings::delete_oldest_received>},
        {"push_authorized_channels_only", {}, kHttpAndBelow, 1, 1, "off", 0, "", store_push<&PushSettings::authorized_channels_only>},
        {"push_channel_group", {}, kServerAndBelow, 1, 1, "\"\"", 0, "", store_push<&PushSettings::channel_group>},
        {"push_channel_id", {}, kServerAndBelow, 1, 7, "", 0, "", handle_channel_id},
        {"push_channel_id_split_delimiter", {}, kHttpAndBelow, 1, 1, "", 0, "", store_push<&PushSettings::channel_id_split_delimiter>},
        {"push_max_channel_id_length", {}, kHttpAndBelow, 1, 1, "1024", 0, "", handle_max_channel_id_length},
        {"push_max_channel_subscribers", {}, kHttpAndBelow, 1, 1, "0", 0, "", store_push<&PushSettings::max_channel_subscribers>},
        {"push_subscriber_timeout", {}, kHttpAndBelow, 1, 1, "0", 0, "", store_push<&PushSettings::subscriber_timeout>},
        {"push_channel_timeout", {}, kHttpAndBelow, 1, 1, "5s", 0, "", store_push<&PushSettings::channel_timeout>},
        {"push_ignore_queue_on_no_cache", {}, kHttpAndBelow, 1, 1, "off", 0, "", store_push<&PushSettings::ignore_queue_on_no_cache>},
        {"push_allow_origin", {}, kHttpAndBelow, 1, 1, "*", 0, "", store_push<&PushSettings::allow_origin>},
        {"push_eventsource_ping_interval", {}, kHttpAndBelow, 1, 1, "0", 0, "", store_push<&PushSettings::eventsource_ping_interval>},
        {"push_eventsource_ping_comment", {}, kHttpAndBelow, 1, 1, "\"\"", 0, "", store_push<&PushSettings::eventsource_ping_comment>},
        {"push_eventsource_ping_event", {}, kHttpAndBelow, 1, 1, "ping", 0, "", store_push<&PushSettings::eventsource_ping_event>},
        {"push_eventsource_ping_data", {}, kHttpAndBelow, 1, 1, "\"\"", 0, "", store_push<&PushSettings::eventsource_ping_data>},
        {"push_subscriber_max_unsent_bytes", {}, kHttpAndBelow, 1, 1, "4m", 0, "", store_push<&PushSettings::max_unsent_bytes>},
        // Redis mode (conf/redis.cc, shared/scale-out.md "Conf"): server-wide, so http only.
        {"push_redis_url", {}, kHttp, 1, 1, "", kRepeatable, "", handle_redis_url},
        {"push_redis_namespace", {}, kHttp, 1, 1, "pushrelay", 0, "", handle_redis_namespace},
        {"push_redis_storage_mode", {}, kHttp, 1, 1, "distributed", 0, "", handle_redis_storage_mode},
        {"push_redis_connect_timeout", {}, kHttp, 1, 1, "2s", 0, "", handle_redis_connect_timeout},
        {"push_redis_command_timeout", {}, kHttp, 1, 1, "2s", 0, "", handle_redis_command_timeout},
        // Core directives.
        {"worker_processes", {}, kMain, 1, 1, "1", 0, "", handle_worker_processes},
        {"worker_rlimit_nofile", {}, kMain, 1, 1, "", 0, "", handle_rlimit_nofile},
        {"worker_shutdown_timeout", {}, kMain, 1, 1, "10s", 0, "", store_main<&Config::worker_shutdown_timeout>},
        {"pid", {}, kMain, 1, 1, "logs/pushrelay.pid", 0, "", handle_pid},
        {"error_log", {}, kMain, 1, 2, "logs/error.log error", 0, "", handle_error_log},
        {"daemon", {}, kMain, 1, 1, "on", 0, "", store_main<&Config::daemon>},
        {"include", {}, kAnyContext, 1, 1, "", kRepeatable, "", handle_include},
        {"events", {}, kMain, 0, 0, "", kBlock, "", handle_events},
        {"worker_connections", {}, kEvents, 1, 1, "1024", 0, "", handle_worker_connections},
        {"http", {}, kMain, 0, 0, "", kBlock, "", handle_http},
        {"server", {}, kHttp, 0, 0, "", kBlock | kRepeatable, "", handle_server},
        {"location", {}, kServer, 1, 2, "", kBlock | kRepeatable, "", handle_location},
        {"listen", {}, kServer, 1, kUnlimitedArgs, "", kRepeatable, "", handle_listen},
        {"server_name", {}, kServer, 1, kUnlimitedArgs, "", kRepeatable, "", handle_server_name},
        {"default_type", {}, kHttpAndBelow, 1, 1, "text/plain", 0, "", store_http<&HttpSettings::default_type>},
        {"access_log", {}, kHttpAndBelow, 1, 2, "logs/access.log combined", 0, "", handle_access_log},
        {"log_format", {}, kHttp, 2, kUnlimitedArgs, "", kRepeatable, "", handle_log_format},
        {"keepalive_timeout", {}, kHttpAndBelow, 1, 1, "75s", 0, "", store_http<&HttpSettings::keepalive_timeout>},
        {"keepalive_requests", {}, kHttpAndBelow, 1, 1, "1000", 0, "", store_http<&HttpSettings::keepalive_requests>},
        {"client_max_body_size", {}, kHttpAndBelow, 1, 1, "1m", 0, "", store_http<&HttpSettings::client_max_body_size>},
        {"client_header_timeout", {}, kHttpAndBelow, 1, 1, "60s", 0, "", store_http<&HttpSettings::client_header_timeout>},
        {"client_body_timeout", {}, kHttpAndBelow, 1, 1, "60s", 0, "", store_http<&HttpSettings::client_body_timeout>},
        {"allow", {}, kHttpAndBelow, 1, 1, "", kRepeatable, "", handle_allow},
        {"deny", {}, kHttpAndBelow, 1, 1, "", kRepeatable, "", handle_deny},
        {"set", {}, kServerAndBelow, 2, 2, "", kRepeatable, "", handle_set},
        // Limits (conf/limits.cc).
        {"limit_conn_zone", {}, kHttp, 2, 2, "", kRepeatable, "", handle_limit_conn_zone},
        {"limit_conn", {}, kHttpAndBelow, 2, 2, "", kRepeatable, "", handle_limit_conn},
        {"limit_conn_status", {}, kHttpAndBelow, 1, 1, "503", 0, "", handle_limit_conn_status},
        {"limit_conn_log_level", {}, kHttpAndBelow, 1, 1, "error", 0, "", handle_limit_conn_log_level},
        {"limit_req_zone", {}, kHttp, 3, 3, "", kRepeatable, "", handle_limit_req_zone},
        {"limit_req", {}, kHttpAndBelow, 1, 3, "", kRepeatable, "", handle_limit_req},
        {"limit_req_status", {}, kHttpAndBelow, 1, 1, "503", 0, "", handle_limit_req_status},
        {"limit_req_log_level", {}, kHttpAndBelow, 1, 1, "error", 0, "", handle_limit_req_log_level},
    };
    // clang-format on
    return specs;
}

}  // namespace

Error invalid_argument(const Statement& st, size_t index, std::string_view what,
                       std::string_view hint) {
    return error_at(st, "invalid " + std::string(what) + " " + quoted(st.args[index]) + " in " +
                            quoted(st.name) + " directive" + std::string(hint));
}

MaybeError read_count(const Statement& st, size_t index, uint32_t min, uint32_t* out) {
    std::optional<uint32_t> n = parse_count(st.args[index]);
    if (!n) {
        return invalid_argument(st, index, "number",
                                " (expected a whole number from 0 to 4294967295)");
    }
    if (*n < min) {
        return invalid_argument(st, index, "number",
                                ", it must be at least " + std::to_string(min));
    }
    *out = *n;
    return std::nullopt;
}

MaybeError read_time(const Statement& st, size_t index, Millis* out) {
    std::optional<Millis> time = parse_time(st.args[index]);
    if (!time) {
        return invalid_argument(st, index, "time",
                                " (expected a number of seconds, or units ms s m h d w "
                                "as in 500ms, 30s, 1h30m)");
    }
    *out = *time;
    return std::nullopt;
}

std::span<const DirectiveSpec> directive_table() {
    return table();
}

std::vector<std::string_view> transport_names() {
    std::vector<std::string_view> names;
    for (unsigned bit = 1; bit <= UINT8_MAX; bit <<= 1) {
        auto first = std::find_if(kTransports.begin(), kTransports.end(),
                                  [bit](const auto& choice) { return choice.second == bit; });
        if (first != kTransports.end())
            names.push_back(first->first);
    }
    return names;
}

const DirectiveSpec* find_directive(std::string_view name) {
    for (const DirectiveSpec& spec : table()) {
        if (spec.name == name ||
            std::find(spec.aliases.begin(), spec.aliases.end(), name) != spec.aliases.end()) {
            return &spec;
        }
    }
    return nullptr;
}

}  // namespace pushrelay::conf
