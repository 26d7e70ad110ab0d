// Conf errors: what a load reports instead of a Config.
//
// Owned by conf/; used by the master (for `pushrelay -t` and reloads) to print a conf mistake.
// Nothing here throws: every conf step returns a MaybeError and stops at the first error.
#pragma once

#include <optional>
#include <string>

namespace pushrelay::conf {

// A conf mistake: where it is and what is wrong, in words for the person editing the file.
struct Error {
    std::string file;  // the file that holds the mistake ("command line" for -g directives)
    int line = 0;      // 1-based; 0 when no line applies (the file itself could not be read)
    std::string message;

    // "FILE:LINE: MESSAGE", or "FILE: MESSAGE" when line is 0.
    std::string describe() const;
};

// The outcome of one conf step: the error, or no value on success. Truthy on failure, so that
// `if (MaybeError err = step()) return err;` reads as what it does.
using MaybeError = std::optional<Error>;

}  // namespace pushrelay::conf
