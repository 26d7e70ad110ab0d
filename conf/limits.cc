// The limit directives, with nginx's syntax: limit_conn_zone, limit_req_zone (the zones, http
// level), limit_conn, limit_req (the rules, inherited as a list), their status and log level.
#include <algorithm>
#include <charconv>

#include "conf/directive_handlers.h"

namespace pushrelay::conf {
namespace {

constexpr Choices<LogLevel, 4> kLimitLogLevels{{
    {"info", LogLevel::Info},
    {"notice", LogLevel::Notice},
    {"warn", LogLevel::Warn},
    {"error", LogLevel::Error},
}};

// "name=value" → value, if arg starts with name=.
std::optional<std::string_view> parameter(std::string_view arg, std::string_view name) {
    if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
        return arg.substr(name.size() + 1);
    }
    return std::nullopt;
}

Error invalid_parameter(const Statement& st, size_t index, std::string_view hint = "") {
    return invalid_argument(st, index, "parameter", hint);
}

// "zone=name:size" of a zone directive.
MaybeError read_zone(const Statement& st, size_t index, LimitZone* zone) {
    std::string_view value = *parameter(st.args[index], "zone");
    size_t colon = value.rfind(':');
    if (colon == 0 || colon == std::string_view::npos) {
        return invalid_parameter(st, index, ", it must be zone=name:size as in zone=addr:10m");
    }
    zone->name = value.substr(0, colon);
    std::optional<uint64_t> size = parse_size(value.substr(colon + 1));
    if (!size) {
        return invalid_argument(st, index, "zone size",
                                " (expected bytes with an optional k or m suffix, as in 10m)");
    }
    if (*size < kMinLimitZoneSize) {
        return error_at(st, "zone " + quoted(zone->name) + " is too small in " + quoted(st.name) +
                                " directive, it must be at least 32k");
    }
    zone->size = *size;
    return std::nullopt;
}

// "rate=10r/s" or "rate=30r/m" into milli-requests per second (integer division, as nginx).
MaybeError read_rate(const Statement& st, size_t index, LimitZone* zone) {
    std::string_view value = *parameter(st.args[index], "rate");
    uint64_t per_second = value.ends_with("r/s") ? 1 : value.ends_with("r/m") ? 60 : 0;
    std::string_view digits = value.substr(0, value.size() >= 3 ? value.size() - 3 : 0);
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (per_second == 0 || digits.empty() || ec != std::errc() ||
        end != digits.data() + digits.size() || n == 0 || n > UINT32_MAX) {
        return invalid_argument(st, index, "rate",
                                " (expected a number of requests per second or minute, as in "
                                "rate=10r/s or rate=30r/m)");
    }
    zone->rate = n * 1000 / per_second;
    zone->rate_text = value;
    return std::nullopt;
}

MaybeError add_zone(Apply& block, const Statement& st, LimitZone zone) {
    std::vector<LimitZone>& zones = block.shared.config->limit_zones;
    auto same = std::find_if(zones.begin(), zones.end(),
                             [&zone](const LimitZone& z) { return z.name == zone.name; });
    if (same != zones.end()) {
        return error_at(st, "duplicate zone " + quoted(zone.name) + " (first at " + same->file +
                                ":" + std::to_string(same->line) + ")");
    }
    const std::string& key = st.args[0];
    if (key.empty()) {
        return invalid_argument(st, 0, "key", ": it is empty");
    }
    // Any variable: one given by `set` is known only in the locations that set it, and has no
    // value (so nothing is counted) elsewhere.
    Parsed<Template> compiled = Template::compile(key, [](std::string_view) { return true; });
    if (!compiled.value) {
        return error_at(st, compiled.error + " in " + quoted(st.name) + " directive");
    }
    zone.key = std::move(*compiled.value);
    zone.file = st.file;
    zone.line = st.line;
    zones.push_back(std::move(zone));
    return std::nullopt;
}

LimitRuleOrigin rule_origin(const Statement& st, std::string_view zone_name) {
    return LimitRuleOrigin{std::string(zone_name), 0, st.file, st.line};
}

// A level's first rule of a kind replaces the list it inherited; a zone twice is a mistake.
template <class Rule>
MaybeError add_rule(const Statement& st, bool* own, std::vector<Rule>* rules, Rule rule) {
    if (!*own) {
        rules->clear();
        *own = true;
    }
    for (const Rule& other : *rules) {
        if (other.origin.zone_name == rule.origin.zone_name) {
            return error_at(st, quoted(st.name) + " for zone " + quoted(rule.origin.zone_name) +
                                    " is duplicate (first at " + other.origin.file + ":" +
                                    std::to_string(other.origin.line) + ")");
        }
    }
    rules->push_back(std::move(rule));
    return std::nullopt;
}

// "burst=n" or "delay=n": a count of requests, kept in milli-requests.
MaybeError read_requests(const Statement& st, size_t index, std::string_view name,
                         uint64_t* milli) {
    std::optional<uint32_t> n = parse_count(*parameter(st.args[index], name));
    if (!n) {
        return invalid_argument(
            st, index, std::string(name),
            " (expected a whole number of requests, as in " + std::string(name) + "=5)");
    }
    *milli = uint64_t{*n} * 1000;
    return std::nullopt;
}

// What limit_req's optional parameters say, before they make a rule.
struct ReqParameters {
    std::optional<std::string_view> zone;
    uint64_t burst = 0;
    std::optional<uint64_t> delay;
    bool nodelay = false;
};

MaybeError read_req_parameter(const Statement& st, size_t index, ReqParameters* p) {
    std::string_view arg = st.args[index];
    if (auto zone = parameter(arg, "zone")) {
        p->zone = zone;
        return std::nullopt;
    }
    if (parameter(arg, "burst")) {
        return read_requests(st, index, "burst", &p->burst);
    }
    if (parameter(arg, "delay")) {
        p->delay = 0;
        return read_requests(st, index, "delay", &*p->delay);
    }
    if (arg == "nodelay") {
        p->nodelay = true;
        return std::nullopt;
    }
    return invalid_parameter(st, index, ", it must be zone=, burst=, delay= or nodelay");
}

MaybeError read_status(const Statement& st, int* out) {
    uint32_t status = 0;
    if (MaybeError err = read_count(st, 0, 400, &status)) {
        return err;
    }
    if (status > 599) {
        return invalid_argument(st, 0, "status", ", it must be from 400 to 599");
    }
    *out = static_cast<int>(status);
    return std::nullopt;
}

// The zone a rule names, checked against the kind the rule needs.
MaybeError resolve(const std::vector<LimitZone>& zones, LimitZone::Kind kind,
                   LimitRuleOrigin* origin) {
    auto zone = std::find_if(zones.begin(), zones.end(),
                             [origin](const LimitZone& z) { return z.name == origin->zone_name; });
    std::string_view wanted = kind == LimitZone::Kind::Conn ? "limit_conn_zone" : "limit_req_zone";
    if (zone == zones.end()) {
        return Error{origin->file, origin->line,
                     "unknown " + std::string(wanted) + " " + quoted(origin->zone_name)};
    }
    if (zone->kind != kind) {
        return Error{origin->file, origin->line,
                     "zone " + quoted(origin->zone_name) + " is a " +
                         std::string(zone->directive()) + " (" + zone->file + ":" +
                         std::to_string(zone->line) + "), not a " + std::string(wanted)};
    }
    origin->zone = static_cast<size_t>(zone - zones.begin());
    return std::nullopt;
}

MaybeError resolve_location(const std::vector<LimitZone>& zones, Location* location) {
    LimitSettings& limits = location->http.limits;
    for (LimitConnRule& rule : limits.conn) {
        if (MaybeError err = resolve(zones, LimitZone::Kind::Conn, &rule.origin)) {
            return err;
        }
    }
    for (LimitReqRule& rule : limits.req) {
        if (MaybeError err = resolve(zones, LimitZone::Kind::Req, &rule.origin)) {
            return err;
        }
    }
    return std::nullopt;
}

}  // namespace

std::string_view LimitZone::directive() const {
    return kind == Kind::Conn ? "limit_conn_zone" : "limit_req_zone";
}

// limit_conn_zone key zone=name:size;
MaybeError handle_limit_conn_zone(Apply& block, const Statement& st) {
    if (!parameter(st.args[1], "zone")) {
        return invalid_parameter(st, 1, ", it must be zone=name:size as in zone=addr:10m");
    }
    LimitZone zone;
    zone.kind = LimitZone::Kind::Conn;
    if (MaybeError err = read_zone(st, 1, &zone)) {
        return err;
    }
    return add_zone(block, st, std::move(zone));
}

// limit_req_zone key zone=name:size rate=rate; (zone= and rate= in either order, as nginx)
MaybeError handle_limit_req_zone(Apply& block, const Statement& st) {
    LimitZone zone;
    zone.kind = LimitZone::Kind::Req;
    for (size_t i = 1; i < st.args.size(); ++i) {
        MaybeError err = parameter(st.args[i], "zone") ? read_zone(st, i, &zone)
                         : parameter(st.args[i], "rate")
                             ? read_rate(st, i, &zone)
                             : invalid_parameter(st, i, ", it must be zone= or rate=");
        if (err) {
            return err;
        }
    }
    if (zone.name.empty() || zone.rate == 0) {
        return error_at(st, quoted(st.name) + " directive needs both zone=name:size and rate=");
    }
    return add_zone(block, st, std::move(zone));
}

// limit_conn zone n;
MaybeError handle_limit_conn(Apply& block, const Statement& st) {
    LimitConnRule rule{rule_origin(st, st.args[0]), 1};
    if (MaybeError err = read_count(st, 1, 1, &rule.limit)) {
        return err;
    }
    return add_rule(st, &block.own_limit_conn, &block.scope->http.limits.conn, std::move(rule));
}

// limit_req zone=name [burst=n] [nodelay | delay=n];
MaybeError handle_limit_req(Apply& block, const Statement& st) {
    ReqParameters p;
    for (size_t i = 0; i < st.args.size(); ++i) {
        if (MaybeError err = read_req_parameter(st, i, &p)) {
            return err;
        }
    }
    if (!p.zone || p.zone->empty()) {
        return error_at(st, quoted(st.name) + " directive needs zone=name");
    }
    if (p.nodelay && p.delay) {
        return error_at(st, "\"nodelay\" and \"delay=\" cannot be used together in " +
                                quoted(st.name) + " directive");
    }
    LimitReqRule rule{rule_origin(st, *p.zone), p.burst, p.nodelay ? p.burst : p.delay.value_or(0)};
    return add_rule(st, &block.own_limit_req, &block.scope->http.limits.req, std::move(rule));
}

MaybeError handle_limit_conn_status(Apply& block, const Statement& st) {
    return read_status(st, &block.scope->http.limits.conn_status);
}

MaybeError handle_limit_req_status(Apply& block, const Statement& st) {
    return read_status(st, &block.scope->http.limits.req_status);
}

MaybeError handle_limit_conn_log_level(Apply& block, const Statement& st) {
    return read_choice(st, 0, kLimitLogLevels, &block.scope->http.limits.conn_log_level);
}

MaybeError handle_limit_req_log_level(Apply& block, const Statement& st) {
    return read_choice(st, 0, kLimitLogLevels, &block.scope->http.limits.req_log_level);
}

MaybeError resolve_limit_zones(Config* config) {
    for (Server& server : config->servers) {
        if (MaybeError err = resolve_location(config->limit_zones, &server.fallback)) {
            return err;
        }
        for (Location& location : server.locations) {
            if (MaybeError err = resolve_location(config->limit_zones, &location)) {
                return err;
            }
        }
    }
    return std::nullopt;
}

}  // namespace pushrelay::conf
