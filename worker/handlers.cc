#include "worker/handlers.h"

#include "protocol/response.h"
#include "worker/core.h"

namespace pushrelay::worker {
namespace {

// Runs the location's `set` directives in order and returns the channel id
// they give ($push_channel_id, alias $push_id); empty when unset.
std::string evaluate_channel_id(const Connection& connection) {
    const protocol::Request& req = connection.request();
    conf::RequestVars vars;
    vars.path = req.path;
    vars.query = req.query;
    vars.captures = connection.captures();
    vars.header = [&req](std::string_view name) -> std::optional<std::string_view> {
        const std::string* value = req.header(name);
        if (!value)
            return std::nullopt;
        return std::string_view(*value);
    };
    conf::SetVariables variables(connection.location().sets, vars);
    return std::string(variables.find("push_channel_id").value_or(""));
}

}  // namespace

void add_cors_headers(const conf::Location& location, std::vector<protocol::Header>& headers) {
    headers.push_back({"Access-Control-Allow-Origin", location.push.allow_origin});
    if (location.push.role == conf::Role::Subscriber) {
        headers.push_back({"Access-Control-Expose-Headers", "Last-Modified, Etag"});
    }
}

void respond_text(Connection& connection, int status, std::string_view text,
                  std::vector<protocol::Header> extra) {
    extra.push_back({"Content-Type", "text/plain"});
    add_cors_headers(connection.location(), extra);
    connection.respond(status, extra, std::string(text));
}

void respond_preflight(Connection& connection, std::string_view methods,
                       std::string_view allow_headers) {
    std::vector<protocol::Header> headers{
        {"Access-Control-Allow-Methods", std::string(methods)},
        {"Access-Control-Allow-Headers", std::string(allow_headers)},
        {"Access-Control-Max-Age", "86400"}};
    add_cors_headers(connection.location(), headers);
    connection.respond(200, headers, "");
}

void respond_empty(Connection& connection, int status) {
    std::vector<protocol::Header> headers;
    add_cors_headers(connection.location(), headers);
    connection.respond(status, headers, "");
}

void respond_not_modified(Connection& connection) {
    const protocol::Request& req = connection.request();
    std::vector<protocol::Header> headers;
    if (const std::string* since = req.header("If-Modified-Since"))
        headers.push_back({"Last-Modified", *since});
    if (const std::string* tag = req.header("If-None-Match"))
        headers.push_back({"Etag", *tag});
    headers.push_back({"Vary", "If-None-Match, If-Modified-Since"});
    add_cors_headers(connection.location(), headers);
    connection.respond(304, headers, "");
}

void handle_request(Worker& worker, Connection& connection) {
    const conf::Location& location = connection.location();
    if (location.push.role == conf::Role::None) {
        respond_text(connection, 404, protocol::error_body(404, "no publisher or subscriber here"));
        return;
    }
    if (location.push.role == conf::Role::Status) {
        handle_status(worker, connection);
        return;
    }
    std::string id = evaluate_channel_id(connection);
    if (connection.request().method != "OPTIONS") {
        if (id.empty()) {
            respond_text(connection, 400, "No channel id provided.");
            return;
        }
        if (id.size() > location.push.max_channel_id_length) {
            respond_text(connection, 400,
                         "Channel id is longer than push_max_channel_id_length (" +
                             std::to_string(location.push.max_channel_id_length) + ").");
            return;
        }
    }
    std::string key = location.push.channel_group + "/" + id;
    if (location.push.role == conf::Role::Publisher) {
        handle_publisher(worker, connection, key);
    } else {
        handle_subscriber(worker, connection, key);
    }
}

}  // namespace pushrelay::worker
