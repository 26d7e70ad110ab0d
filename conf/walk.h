// Applying parsed statements to a Config, block by block: the table's generic checks
// (unknown, context, arity, block, duplicates) and the state directive handlers write to.
//
// Internal to conf/ (load.cc, directives.cc); runs in the master while loading.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "conf/conf.h"
#include "conf/syntax.h"

namespace pushrelay::conf {

// nginx's predefined access log format, which log_format may not redefine.
inline constexpr std::string_view kCombinedLogFormat =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
    "\"$http_referer\" \"$http_user_agent\"";

// Which directive last set a value, so that a conflict found later can point at it.
struct Origin {
    std::string file;
    int line = 0;
    uint64_t order = 0;  // larger: applied later (a deeper level, or later in the same block)
};

// The settings in force at one level (defaults, http, server, location). A level starts as a
// copy of its parent's and then applies its own directives: that copy is the inheritance.
struct Scope {
    PushSettings push;
    HttpSettings http;
    std::vector<SetDirective> sets;
    std::vector<Template> channel_ids;  // push_channel_id
    Origin min_buffer_origin;
    Origin max_buffer_origin;
};

// State of one load, shared by every block.
struct Shared {
    Config* config = nullptr;
    std::map<std::string, std::string, std::less<>> log_formats;  // name → format text
    std::map<std::string, Origin, std::less<>> listens;           // "addr:port" → first listen
    uint64_t applied = 0;                                         // statements applied so far
};

// The block being applied: what its directives write to.
struct Apply {
    Shared& shared;
    unsigned context;       // the Context bit of this block
    Scope* scope;           // the level's settings; in main, the defaults (parent of http)
    Server* server;         // in server and location blocks, else nullptr
    bool own_access_rules;  // this level replaced the inherited allow/deny list already
    bool own_limit_conn;    // ... the inherited limit_conn list
    bool own_limit_req;     // ... the inherited limit_req list
};

// Checks every statement of block against the table and applies it: first the block's plain
// directives in order, then its nested blocks, so that a directive after a nested block is
// still inherited by it (as in nginx). Stops at the first error.
MaybeError walk_block(Shared& shared, const std::vector<Statement>& block, unsigned context,
                      Scope* scope, Server* server);

// What a load starts from: the predefined log formats, and every table default (default_text
// as a conf line, file "defaults") applied to *shared.config and *scope.
MaybeError apply_defaults(Shared& shared, Scope* scope);

// text in double quotes, as error messages show conf words.
std::string quoted(std::string_view text);

// The error at a statement's place.
Error error_at(const Statement& statement, std::string message);

}  // namespace pushrelay::conf
