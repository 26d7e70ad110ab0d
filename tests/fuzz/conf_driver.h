// tests/fuzz/conf_driver.h — the code the conf fuzz target runs, shared with the unit test that
// replays its corpus (tests/conf/fuzz_corpus_test.cc).
//
// Loads one fuzz input as a conf file and checks what conf/conf.h promises: a load gives either
// a Config that holds the documented invariants (which location selection then relies on) or
// an Error that names a file and says what is wrong. Returns an empty string when that held,
// else one line naming the broken promise. Header-only so that the fuzz build (clang) and the
// unit tests (g++) compile the same code.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/conf.h"

namespace pushrelay::fuzz {

// The conf is given a name in a directory that does not exist, so a relative include cannot
// reach a real file. An absolute include could read anything on the machine (/dev/zero never
// ends), so inputs that could spell one are not loaded.
inline bool conf_may_read_files(std::string_view text) {
    return text.find("include") != std::string_view::npos &&
           text.find('/') != std::string_view::npos;
}

inline std::string check_location(const conf::Location& loc) {
    if (loc.push.min_buffer > loc.push.max_buffer)
        return "min_buffer > max_buffer";
    if (loc.push.max_channel_id_length < 1)
        return "max_channel_id_length < 1";
    for (char c : loc.push.allow_origin) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return "control byte in origin";
    }
    if (loc.is_regex() != (loc.regex != nullptr))
        return "regex set without a regex location";
    return {};
}

inline std::string run_conf(std::string_view text) {
    if (conf_may_read_files(text))
        return {};
    conf::LoadResult result =
        conf::load_string(text, "/nonexistent-fuzz/fuzz.conf", "/nonexistent-fuzz/");
    if (!result) {
        if (result.error.message.empty())
            return "an error without a message";
        if (result.error.file.empty())
            return "an error without a file";
        if (result.error.line < 0)
            return "an error with a negative line";
        return {};
    }
    const conf::Config& cfg = *result.config;
    if (cfg.worker_processes < 1 || cfg.worker_processes > 64)
        return "worker_processes range";
    if (cfg.worker_connections < 16)
        return "worker_connections < 16";
    std::vector<std::string> captures;
    for (const conf::Server& server : cfg.servers) {
        if (server.listens.empty())
            return "a server without listen";
        if (std::string bad = check_location(server.fallback); !bad.empty())
            return bad;
        for (const conf::Location& loc : server.locations) {
            if (std::string bad = check_location(loc); !bad.empty())
                return bad;
            // Every location's own pattern, and a few plain paths, must select something that
            // lives in this server.
            for (std::string_view path : {std::string_view(loc.pattern), std::string_view("/"),
                                          std::string_view("/sub/ch?x"), std::string_view("")}) {
                const conf::Location& hit = conf::match_location(server, path, captures);
                if (&hit != &server.fallback &&
                    (&hit < server.locations.data() ||
                     &hit >= server.locations.data() + server.locations.size())) {
                    return "match_location returned a location of another server";
                }
            }
        }
    }
    return {};
}

}  // namespace pushrelay::fuzz
