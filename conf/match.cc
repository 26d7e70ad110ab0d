// Request-time lookups on a loaded Config: location selection and allow/deny.
#include "conf/conf.h"

namespace pushrelay::conf {
bool HttpSettings::allowed(const sockaddr* peer) const {
    for (const AccessRule& rule : access) {
        if (rule.matches(peer)) {
            return rule.allow;
        }
    }
    return true;
}

const Location& match_location(const Server& server, std::string_view path,
                               std::vector<std::string>& captures) {
    captures.clear();
    const Location* longest_prefix = nullptr;
    for (const Location& location : server.locations) {
        if (location.match == Location::Match::Exact && location.pattern == path) {
            return location;
        }
        if (location.match == Location::Match::Prefix && path.starts_with(location.pattern) &&
            (longest_prefix == nullptr ||
             location.pattern.size() > longest_prefix->pattern.size())) {
            longest_prefix = &location;
        }
    }
    if (longest_prefix != nullptr && longest_prefix->skip_regex) {
        return *longest_prefix;
    }
    for (const Location& location : server.locations) {
        if (location.is_regex() && location.regex->match(path, &captures)) {
            return location;
        }
    }
    return longest_prefix != nullptr ? *longest_prefix : server.fallback;
}

}  // namespace pushrelay::conf
