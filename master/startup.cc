#include "master/startup.h"

#include <utility>
#include <vector>

namespace pushrelay::master {
namespace {

std::string_view role_name(conf::Role role) {
    switch (role) {
        case conf::Role::Publisher:
            return "publisher";
        case conf::Role::Subscriber:
            return "subscriber";
        case conf::Role::Status:
            return "status";
        case conf::Role::GripProxy:
            return "GRIP proxy";
        case conf::Role::GripPublish:
            return "GRIP publish";
        case conf::Role::None:
            break;
    }
    return "";
}

// Each role in order of first appearance, with the locations that have it.
using RoleLocations = std::vector<std::pair<conf::Role, std::vector<std::string>>>;

void add(RoleLocations& roles, conf::Role role, std::string location) {
    if (role == conf::Role::None) {
        return;
    }
    for (auto& [known, locations] : roles) {
        if (known == role) {
            locations.push_back(std::move(location));
            return;
        }
    }
    roles.push_back({role, {std::move(location)}});
}

// "publisher (/pub, = /pub/raw), status (= /status)". O(locations × roles): a handful of each,
// once per start.
std::string describe_roles(const conf::Server& server) {
    RoleLocations roles;
    for (const conf::Location& location : server.locations) {
        add(roles, location.push.role, location.describe());
    }
    add(roles, server.fallback.push.role, server.locations.empty() ? "any path" : "any other path");
    if (roles.empty()) {
        return "(no push locations)";
    }
    std::string text;
    for (const auto& [role, locations] : roles) {
        text += (text.empty() ? "" : ", ") + std::string(role_name(role)) + " (";
        for (size_t i = 0; i < locations.size(); ++i) {
            text += (i == 0 ? "" : ", ") + locations[i];
        }
        text += ")";
    }
    return text;
}

}  // namespace

std::string startup_line(const conf::Config& config, std::string_view version) {
    int workers = config.worker_processes;
    std::string line = "pushrelay " + std::string(version) +
                       " started: " + std::to_string(workers) +
                       (workers == 1 ? " worker" : " workers");
    for (const conf::Server& server : config.servers) {
        std::string roles = describe_roles(server);
        for (const conf::Listen& listen : server.listens) {
            line += "; " + listen.describe() + " " + roles;
        }
    }
    return line;
}

}  // namespace pushrelay::master
