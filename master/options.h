// Command-line options of the pushrelay binary, as nginx's:
//   pushrelay [-c conf] [-p prefix] [-g directives] [-t] [-s signal] [-v] [-V] [-h]
// Parsed in the master before anything else; pure (no I/O besides what the
// caller prints), so it is unit-tested directly.
#pragma once

#include <string>
#include <variant>

namespace pushrelay::master {

#if !defined(PUSHRELAY_VERSION) || !defined(PUSHRELAY_INSTALL_PREFIX) || \
    !defined(PUSHRELAY_DEFAULT_CONF) || !defined(PUSHRELAY_HIREDIS_VERSION)
#error \
    "CMakeLists.txt defines PUSHRELAY_VERSION, PUSHRELAY_INSTALL_PREFIX, PUSHRELAY_DEFAULT_CONF and PUSHRELAY_HIREDIS_VERSION"
#endif

// project(VERSION) in CMakeLists.txt, the one place the version is written (debian/changelog is
// checked against it at configure time).
inline constexpr const char* kVersion = PUSHRELAY_VERSION;
inline constexpr const char* kDefaultPrefix = "/var/lib/pushrelay/";
// The install prefix the build was configured with (CMAKE_INSTALL_PREFIX), and the conf that
// `make install` puts under it (cmake/conf_dir.cmake): PREFIX/etc/pushrelay/pushrelay.conf, or
// /etc/pushrelay/pushrelay.conf for /usr.
inline constexpr const char* kInstallPrefix = PUSHRELAY_INSTALL_PREFIX;
inline constexpr const char* kDefaultConf = PUSHRELAY_DEFAULT_CONF;

struct Options {
    std::string conf_path = kDefaultConf;  // made absolute against prefix by resolve()
    std::string prefix = kDefaultPrefix;   // always ends with '/'
    std::string directives;                // -g
    bool test_only = false;                // -t
    std::string signal;                    // -s: stop | quit | reload | reopen | upgrade
    bool show_version = false;             // -v
    bool show_build = false;               // -V
    bool show_help = false;                // -h / -?
};

// Returns the options, or an error text naming the bad argument.
std::variant<Options, std::string> parse_options(int argc, const char* const* argv);

// nginx resolves a relative -c against the prefix; a relative -p against the
// working directory. Resolves both in place.
void resolve_paths(Options& options);

// The usage text printed by -h.
std::string usage();

// What -V prints after the version line, as nginx -V does: the compiler, the build's features
// (the transports, GRIP, Redis with the hiredis it was built against) and the install prefix.
std::string build_info();

}  // namespace pushrelay::master
