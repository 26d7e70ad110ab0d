// The conf language's syntax: words, quoted strings, `;`-terminated statements, `{}` blocks,
// `#` comments, and `include` expanded in place.
//
// Owned by conf/ and run only while loading a conf (master process). It knows no directive but
// `include`: what a statement means is the directive table's business (conf/directive.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/error.h"

namespace pushrelay::conf {

// One directive as written: `name args...;` or `name args... { block }`.
struct Statement {
    std::string name;
    std::vector<std::string> args;  // quotes removed, escapes applied
    bool has_block = false;
    std::vector<Statement> block;
    std::string file;  // where the name was written
    int line = 0;
};

// Includes deeper than this are refused: the likely cause is a file including itself.
inline constexpr int kMaxIncludeDepth = 16;

// Parses text (named `name` in errors) into *out, appending. `include PATTERN;` statements are
// replaced by the statements of the files PATTERN names: a relative PATTERN is taken against
// include_dir (the main conf file's directory); a glob pattern may match nothing, a plain path
// must exist; matches are read in sorted order.
MaybeError parse_text(std::string_view text, const std::string& name,
                      const std::string& include_dir, std::vector<Statement>* out);

// Reads the file at path and parses it as parse_text does.
MaybeError parse_file(const std::string& path, const std::string& include_dir,
                      std::vector<Statement>* out);

}  // namespace pushrelay::conf
