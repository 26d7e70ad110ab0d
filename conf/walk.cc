#include "conf/walk.h"

namespace pushrelay::conf {
namespace {

bool arity_fits(const DirectiveSpec& spec, size_t count) {
    return count >= static_cast<size_t>(spec.min_args) &&
           (spec.max_args == kUnlimitedArgs || count <= static_cast<size_t>(spec.max_args));
}

// The statements seen in one block, by exclusive group (or name), for the duplicate check.
using Seen = std::map<std::string_view, const Statement*>;

MaybeError check_duplicate(const DirectiveSpec& spec, const Statement& st, Seen* seen) {
    if (spec.flags & kRepeatable) {
        return std::nullopt;
    }
    std::string_view group = spec.exclusive_group.empty() ? spec.name : spec.exclusive_group;
    auto [it, inserted] = seen->emplace(group, &st);
    if (inserted) {
        return std::nullopt;
    }
    const Statement& first = *it->second;
    if (find_directive(first.name) == &spec) {
        return error_at(st, quoted(st.name) + " directive is duplicate");
    }
    return error_at(st, quoted(st.name) + " directive cannot be used together with " +
                            quoted(first.name) + " (" + first.file + ":" +
                            std::to_string(first.line) + ") in the same block");
}

// The table's checks, which every directive passes before its handler runs.
MaybeError check_statement(const DirectiveSpec* spec, const Statement& st, unsigned context,
                           Seen* seen) {
    if (spec == nullptr) {
        return error_at(st, "unknown directive " + quoted(st.name));
    }
    if ((spec->contexts & context) == 0) {
        return error_at(st, quoted(st.name) + " directive is not allowed here");
    }
    bool wants_block = (spec->flags & kBlock) != 0;
    if (wants_block && !st.has_block) {
        return error_at(st, "directive " + quoted(st.name) + " has no opening \"{\"");
    }
    if (!wants_block && st.has_block) {
        return error_at(st, quoted(st.name) + " directive is not terminated by \";\"");
    }
    if (!arity_fits(*spec, st.args.size())) {
        return error_at(st, "invalid number of arguments in " + quoted(st.name) + " directive");
    }
    return check_duplicate(*spec, st, seen);
}

MaybeError run(Apply& block, const DirectiveSpec& spec, const Statement& st) {
    ++block.shared.applied;
    return spec.handler(block, st);
}

}  // namespace

std::string quoted(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

Error error_at(const Statement& statement, std::string message) {
    return Error{statement.file, statement.line, std::move(message)};
}

MaybeError walk_block(Shared& shared, const std::vector<Statement>& block, unsigned context,
                      Scope* scope, Server* server) {
    Apply apply{shared,
                context,
                scope,
                server,
                /*own_access_rules=*/false,
                /*own_limit_conn=*/false,
                /*own_limit_req=*/false};
    Seen seen;
    std::vector<std::pair<const DirectiveSpec*, const Statement*>> nested;
    for (const Statement& st : block) {
        const DirectiveSpec* spec = find_directive(st.name);
        if (MaybeError err = check_statement(spec, st, context, &seen)) {
            return err;
        }
        if (spec->flags & kBlock) {
            nested.emplace_back(spec, &st);
        } else if (MaybeError err = run(apply, *spec, st)) {
            return err;
        }
    }
    for (const auto& [spec, st] : nested) {
        if (MaybeError err = run(apply, *spec, *st)) {
            return err;
        }
    }
    return std::nullopt;
}

MaybeError apply_defaults(Shared& shared, Scope* scope) {
    shared.log_formats.emplace("combined", kCombinedLogFormat);
    Apply apply{shared,
                kMain,
                scope,
                nullptr,
                /*own_access_rules=*/false,
                /*own_limit_conn=*/false,
                /*own_limit_req=*/false};
    for (const DirectiveSpec& spec : directive_table()) {
        if (spec.default_text.empty() || (spec.flags & (kBlock | kArgumentDefault))) {
            continue;
        }
        std::vector<Statement> parsed;
        std::string line = std::string(spec.name) + " " + std::string(spec.default_text) + ";";
        if (MaybeError err = parse_text(line, "defaults", "", &parsed)) {
            return err;
        }
        if (MaybeError err = run(apply, spec, parsed.front())) {
            return err;
        }
    }
    return std::nullopt;
}

}  // namespace pushrelay::conf
