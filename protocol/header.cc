#include "protocol/header.h"

#include <algorithm>

namespace pushrelay::protocol {

namespace {

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 9110 §5.6.2 tchar.
bool is_token_char(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

bool is_token(std::string_view s) {
    return !s.empty() && std::ranges::all_of(s, is_token_char);
}

bool iequals(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b,
                              [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

const std::string* find_header(const std::vector<Header>& headers, std::string_view name) {
    auto it =
        std::ranges::find_if(headers, [name](const Header& h) { return iequals(h.name, name); });
    return it == headers.end() ? nullptr : &it->value;
}

std::string_view trim_ows(std::string_view s) {
    constexpr std::string_view kWhitespace = " \t";
    size_t first = s.find_first_not_of(kWhitespace);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(kWhitespace) - first + 1);
}

std::vector<MediaRange> media_ranges(std::string_view accept) {
    std::vector<MediaRange> ranges;
    while (!accept.empty()) {
        size_t comma = accept.find(',');
        std::string_view range = accept.substr(0, comma);
        accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
        size_t semicolon = range.find(';');
        std::string_view type = trim_ows(range.substr(0, semicolon));
        if (type.empty()) {
            continue;
        }
        std::string_view parameters =
            semicolon == std::string_view::npos ? std::string_view{} : range.substr(semicolon + 1);
        ranges.push_back({type, parameters});
    }
    return ranges;
}

}  // namespace pushrelay::protocol
