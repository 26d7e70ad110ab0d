// The directive table: every directive the conf language accepts, where it may stand, how many
// arguments it takes, its default, and the function that applies it.
//
// Owned by conf/ and used only while loading (master process), and by the test that keeps the
// man page, the sample conf and this table listing the same directives. It is the single source
// of truth: a directive absent from it is an unknown directive, and the defaults a load applies
// are its default texts, parsed like conf lines.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "conf/error.h"

namespace pushrelay::conf {

// The blocks a directive may stand in (a bitmask).
enum Context : unsigned {
    kMain = 1u << 0,
    kEvents = 1u << 1,
    kHttp = 1u << 2,
    kServer = 1u << 3,
    kLocation = 1u << 4,
    kAnyContext = kMain | kEvents | kHttp | kServer | kLocation,
};

enum DirectiveFlag : unsigned {
    kBlock = 1u << 0,       // takes a `{ }` block instead of ending with ';'
    kRepeatable = 1u << 1,  // may appear more than once in a block
    // default_text is the default of the optional argument (push_subscriber's mode), not a
    // value in force when the directive is absent.
    kArgumentDefault = 1u << 2,
};

inline constexpr int kUnlimitedArgs = -1;

struct Apply;      // the block being applied (conf/walk.h)
struct Statement;  // a directive as written (conf/syntax.h)

// Applies one statement that passed the table's checks (context, arity, block, duplicates).
using DirectiveHandler = MaybeError (*)(Apply& block, const Statement& statement);

struct DirectiveSpec {
    std::string_view name;
    std::vector<std::string_view> aliases;  // older names, same meaning (push_sender...)
    unsigned contexts;                      // Context bits
    int min_args;
    int max_args;  // kUnlimitedArgs for no limit
    // The default as the man page shows it, in conf syntax ("1h", "logs/error.log error");
    // empty if there is none.
    std::string_view default_text;
    unsigned flags;  // DirectiveFlag bits
    // Directives sharing a non-empty group may appear only once between them in a block
    // (push_publisher / push_subscriber); otherwise the name alone is the group.
    std::string_view exclusive_group;
    DirectiveHandler handler;
};

// The table, in the order the man page lists directives.
std::span<const DirectiveSpec> directive_table();

// The entry for a directive name or alias; nullptr if there is none.
const DirectiveSpec* find_directive(std::string_view name);

}  // namespace pushrelay::conf
