#include "protocol/query.h"

#include "protocol/header.h"

namespace pushrelay::protocol {

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
