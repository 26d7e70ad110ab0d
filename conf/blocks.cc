// The block directives: events, http, server, location. Each walks its block with a copy of
// its parent's settings, which is how http → server → location inheritance happens.
#include <array>

#include "conf/directive_handlers.h"

namespace pushrelay::conf {
namespace {

// min_buffer <= max_buffer once inheritance is done; the error points at whichever of the two
// was set last, the one the user most likely just wrote.
MaybeError check_buffer_lengths(const Scope& scope) {
    const PushSettings& push = scope.push;
    if (push.min_buffer <= push.max_buffer) {
        return std::nullopt;
    }
    const Origin& culprit = scope.min_buffer_origin.order > scope.max_buffer_origin.order
                                ? scope.min_buffer_origin
                                : scope.max_buffer_origin;
    return Error{culprit.file, culprit.line,
                 "push_min_message_buffer_length (" + std::to_string(push.min_buffer) +
                     ") is greater than push_max_message_buffer_length (" +
                     std::to_string(push.max_buffer) + ")"};
}

// Gives *location the settings in force at the end of its level.
MaybeError settle(const Scope& scope, Location* location) {
    if (MaybeError err = check_buffer_lengths(scope)) {
        return err;
    }
    location->push = scope.push;
    location->http = scope.http;
    location->sets = scope.sets;
    location->channel_ids = scope.channel_ids;
    return std::nullopt;
}

struct Modifier {
    std::string_view text;
    Location::Match match;
    bool skip_regex;
};

// Longer modifiers first, so that a glued "~*/x" is not read as "~" and "*/x".
constexpr std::array<Modifier, 4> kModifiers{{
    {"~*", Location::Match::RegexCaseless, false},
    {"^~", Location::Match::Prefix, true},
    {"=", Location::Match::Exact, false},
    {"~", Location::Match::Regex, false},
}};

// `location [modifier] pattern`; nginx also accepts the modifier glued to the pattern.
MaybeError read_location_pattern(const Statement& st, Location* location) {
    std::string_view pattern = st.args.back();
    const Modifier* modifier = nullptr;
    for (const Modifier& m : kModifiers) {
        bool separate = st.args.size() == 2 && st.args[0] == m.text;
        bool glued =
            st.args.size() == 1 && pattern.size() > m.text.size() && pattern.starts_with(m.text);
        if (separate || glued) {
            modifier = &m;
            pattern = glued ? pattern.substr(m.text.size()) : pattern;
            break;
        }
    }
    if (st.args.size() == 2 && modifier == nullptr) {
        return invalid_argument(st, 0, "location modifier",
                                ", it must be \"=\", \"^~\", \"~\" or \"~*\"");
    }
    if (pattern.empty() || pattern.starts_with('@')) {
        return invalid_argument(
            st, st.args.size() - 1, "location",
            pattern.empty() ? ": it is empty" : ": named locations are not supported");
    }
    location->match = modifier ? modifier->match : Location::Match::Prefix;
    location->skip_regex = modifier && modifier->skip_regex;
    location->pattern = pattern;
    location->file = st.file;
    location->line = st.line;
    if (!location->is_regex()) {
        return std::nullopt;
    }
    auto regex = Regex::compile(pattern, location->match == Location::Match::RegexCaseless);
    if (!regex.value) {
        return error_at(st, regex.error);
    }
    location->regex = std::move(*regex.value);
    return std::nullopt;
}

const Modifier* modifier_of(const Location& location) {
    for (const Modifier& m : kModifiers) {
        if (m.match == location.match && m.skip_regex == location.skip_regex) {
            return &m;
        }
    }
    return nullptr;  // a plain prefix location
}

bool same_location(const Location& a, const Location& b) {
    return a.match == b.match && a.pattern == b.pattern;
}

}  // namespace

std::string Location::describe() const {
    const Modifier* modifier = modifier_of(*this);
    return modifier ? std::string(modifier->text) + " " + pattern : pattern;
}

MaybeError handle_events(Apply& block, const Statement& st) {
    return walk_block(block.shared, st.block, kEvents, block.scope, nullptr);
}

MaybeError handle_http(Apply& block, const Statement& st) {
    Scope http = *block.scope;
    return walk_block(block.shared, st.block, kHttp, &http, nullptr);
}

MaybeError handle_server(Apply& block, const Statement& st) {
    Scope scope = *block.scope;
    Server server;
    server.file = st.file;
    server.line = st.line;
    if (MaybeError err = walk_block(block.shared, st.block, kServer, &scope, &server)) {
        return err;
    }
    if (server.listens.empty()) {
        // nginx would listen on port 80, which needs root: better to ask than to fail at bind.
        return error_at(st, "server has no \"listen\" directive");
    }
    server.fallback.file = st.file;
    server.fallback.line = st.line;
    if (MaybeError err = settle(scope, &server.fallback)) {
        return err;
    }
    block.shared.config->servers.push_back(std::move(server));
    return std::nullopt;
}

MaybeError handle_location(Apply& block, const Statement& st) {
    Location location;
    if (MaybeError err = read_location_pattern(st, &location)) {
        return err;
    }
    for (const Location& other : block.server->locations) {
        if (same_location(other, location)) {
            return error_at(st, "duplicate location " + quoted(location.pattern) + " (first at " +
                                    other.file + ":" + std::to_string(other.line) + ")");
        }
    }
    Scope scope = *block.scope;
    if (MaybeError err = walk_block(block.shared, st.block, kLocation, &scope, block.server)) {
        return err;
    }
    if (MaybeError err = settle(scope, &location)) {
        return err;
    }
    block.server->locations.push_back(std::move(location));
    return std::nullopt;
}

}  // namespace pushrelay::conf
