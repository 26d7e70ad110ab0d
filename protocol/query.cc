#include "protocol/query.h"

#include "protocol/header.h"

namespace pushrelay::protocol {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

bool percent_decode(std::string_view raw, std::string& out) {
    out.clear();
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '%') {
            out.push_back(raw[i]);
            continue;
        }
        if (i + 2 >= raw.size()) {
            return false;
        }
        int hi = hex_value(raw[i + 1]);
        int lo = hex_value(raw[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return false;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

std::optional<std::string_view> query_argument(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view argument = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        size_t equals = argument.find('=');
        if (equals != std::string_view::npos && iequals(argument.substr(0, equals), name)) {
            return argument.substr(equals + 1);
        }
    }
    return std::nullopt;
}

}  // namespace pushrelay::protocol
