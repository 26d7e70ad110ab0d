#include "http/request_vars.h"

namespace pushrelay::http {

conf::RequestVars request_vars(const Exchange& exchange) {
    const protocol::Request& req = exchange.request();
    conf::RequestVars vars;
    vars.path = req.path;
    vars.query = req.query;
    vars.captures = exchange.captures();
    vars.header = [&req](std::string_view name) -> std::optional<std::string_view> {
        const std::string* value = req.header(name);
        if (!value)
            return std::nullopt;
        return std::string_view(*value);
    };
    vars.peer = exchange.peer();
    return vars;
}

}  // namespace pushrelay::http
