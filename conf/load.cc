// load_file / load_string: parse, apply the defaults and the statements, hand back a Config.
#include <filesystem>
#include <iterator>

#include "conf/directive_handlers.h"

namespace pushrelay::conf {
namespace {

// Relative includes are taken against the main conf file's directory, as nginx does.
std::string directory_of(const std::string& path) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
}

LoadResult failure(Error error) {
    LoadResult result;
    result.error = std::move(error);
    return result;
}

// The -g directives come first, so that the file's repetition of one is the duplicate
// reported, at its own line (nginx does the same).
LoadResult load_statements(std::string conf_path, const std::string& prefix,
                           const std::string& extra, std::vector<Statement> file_statements) {
    std::vector<Statement> statements;
    if (MaybeError err = parse_text(extra, "command line", directory_of(conf_path), &statements)) {
        return failure(std::move(*err));
    }
    std::move(file_statements.begin(), file_statements.end(), std::back_inserter(statements));

    auto config = std::make_unique<Config>();
    config->prefix = prefix;
    config->conf_path = std::move(conf_path);
    Shared shared;
    shared.config = config.get();
    Scope defaults;
    if (MaybeError err = apply_defaults(shared, &defaults)) {
        return failure(std::move(*err));
    }
    if (MaybeError err = walk_block(shared, statements, kMain, &defaults, nullptr)) {
        return failure(std::move(*err));
    }
    if (MaybeError err = resolve_limit_zones(config.get())) {
        return failure(std::move(*err));
    }
    LoadResult result;
    result.config = std::move(config);
    return result;
}

}  // namespace

LoadResult load_file(const std::string& path, const std::string& prefix, const std::string& extra) {
    // Absolute, so that a reload after the daemon's chdir("/") finds the same file.
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    std::string conf_path = ec ? path : absolute.lexically_normal().string();
    std::vector<Statement> statements;
    if (MaybeError err = parse_file(conf_path, directory_of(conf_path), &statements)) {
        return failure(std::move(*err));
    }
    return load_statements(std::move(conf_path), prefix, extra, std::move(statements));
}

LoadResult load_string(std::string_view text, const std::string& name, const std::string& prefix,
                       const std::string& extra) {
    std::vector<Statement> statements;
    if (MaybeError err = parse_text(text, name, directory_of(name), &statements)) {
        return failure(std::move(*err));
    }
    return load_statements(name, prefix, extra, std::move(statements));
}

}  // namespace pushrelay::conf
