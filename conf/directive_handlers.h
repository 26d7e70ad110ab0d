// Directive handlers that have a file of their own (blocks, listen, limits, redis), and the
// value readers every handler shares. Internal to conf/; the table in directives.cc points at
// these.
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include "conf/walk.h"

namespace pushrelay::conf {

MaybeError handle_events(Apply& block, const Statement& st);
MaybeError handle_http(Apply& block, const Statement& st);
MaybeError handle_server(Apply& block, const Statement& st);
MaybeError handle_location(Apply& block, const Statement& st);
MaybeError handle_listen(Apply& block, const Statement& st);

// The limit directives (limits.cc).
MaybeError handle_limit_conn_zone(Apply& block, const Statement& st);
MaybeError handle_limit_req_zone(Apply& block, const Statement& st);
MaybeError handle_limit_conn(Apply& block, const Statement& st);
MaybeError handle_limit_req(Apply& block, const Statement& st);
MaybeError handle_limit_conn_status(Apply& block, const Statement& st);
MaybeError handle_limit_req_status(Apply& block, const Statement& st);
MaybeError handle_limit_conn_log_level(Apply& block, const Statement& st);
MaybeError handle_limit_req_log_level(Apply& block, const Statement& st);

// The Redis directives (redis.cc).
MaybeError handle_redis_url(Apply& block, const Statement& st);
MaybeError handle_redis_namespace(Apply& block, const Statement& st);
MaybeError handle_redis_storage_mode(Apply& block, const Statement& st);
MaybeError handle_redis_connect_timeout(Apply& block, const Statement& st);
MaybeError handle_redis_command_timeout(Apply& block, const Statement& st);

// Points every limit rule of config at its zone; a rule naming no zone of its kind is the
// error, at the rule's line. Runs once the whole conf is applied.
MaybeError resolve_limit_zones(Config* config);

// `invalid WHAT "ARG" in "NAME" directive` followed by hint (", it must be ..." or " (...)").
Error invalid_argument(const Statement& st, size_t index, std::string_view what,
                       std::string_view hint);

// st.args[index] as a count; below min is an error saying so.
MaybeError read_count(const Statement& st, size_t index, uint32_t min, uint32_t* out);

// st.args[index] as a time (conf/values.h parse_time).
MaybeError read_time(const Statement& st, size_t index, Millis* out);

// A directive's keywords and what each means.
template <class E, size_t N>
using Choices = std::array<std::pair<std::string_view, E>, N>;

// st.args[index] as one of choices; anything else is an error listing them.
template <class E, size_t N>
inline MaybeError read_choice(const Statement& st, size_t index, const Choices<E, N>& choices,
                              E* out) {
    for (const auto& [name, value] : choices) {
        if (st.args[index] == name) {
            *out = value;
            return std::nullopt;
        }
    }
    std::string hint = ", it must be ";
    for (size_t i = 0; i < N; ++i) {
        hint += (i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + quoted(choices[i].first);
    }
    return invalid_argument(st, index, "value", hint);
}

}  // namespace pushrelay::conf
