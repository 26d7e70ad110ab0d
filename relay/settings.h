// relay/settings.h — the Redis connection settings of a process of this node, from the conf
// (push_redis_*): the relay's and each worker's.
#pragma once

#include <string_view>
#include <vector>

#include "conf/conf.h"
#include "redis/connection.h"

namespace pushrelay::relay {

// Settings for a connection to the first push_redis_url's first resolved address, with every
// script of redis/scripts.h (in Script order) and `role` in its CLIENT SETNAME.
redis::Settings connection_settings(const conf::RedisSettings& conf, std::string_view role);

// Every resolved address of every push_redis_url: a standalone Redis (one), or the seeds of a
// Cluster.
std::vector<sockaddr_storage> seed_addresses(const conf::RedisSettings& conf);

}  // namespace pushrelay::relay
