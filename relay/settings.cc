#include "relay/settings.h"

#include <arpa/inet.h>

#include <cstring>

#include "redis/scripts.h"

namespace pushrelay::relay {
namespace {

// The numeric address the conf resolved, with its port, as a sockaddr (empty family if neither).
sockaddr_storage socket_address(const std::string& numeric, std::uint16_t port) {
    sockaddr_storage out{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET, numeric.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, numeric.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
    }
    return out;
}

}  // namespace

redis::Settings connection_settings(const conf::RedisSettings& conf, std::string_view role) {
    const conf::RedisUrl& url = conf.urls.front();
    redis::Settings settings;
    settings.address = socket_address(url.addresses.front(), url.port);
    settings.user = url.user;
    settings.password = url.password;
    settings.db = static_cast<int>(url.db);
    settings.client_name = redis::client_name(role);
    for (redis::Script script :
         {redis::Script::Publish, redis::Script::Fetch, redis::Script::Delete, redis::Script::Info,
          redis::Script::Count, redis::Script::Kick, redis::Script::Receipt})
        settings.scripts.emplace_back(redis::script_source(script));
    settings.connect_timeout = std::chrono::duration<double>(conf.connect_timeout).count();
    settings.command_timeout = std::chrono::duration<double>(conf.command_timeout).count();
    return settings;
}

std::vector<sockaddr_storage> seed_addresses(const conf::RedisSettings& conf) {
    std::vector<sockaddr_storage> seeds;
    for (const conf::RedisUrl& url : conf.urls)
        for (const std::string& address : url.addresses)
            seeds.push_back(socket_address(address, url.port));
    return seeds;
}

}  // namespace pushrelay::relay
