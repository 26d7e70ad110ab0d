#include "master/options.h"

#include <unistd.h>

#include <climits>
#include <string_view>

#include "conf/conf.h"

namespace pushrelay::master {
namespace {

bool is_signal_name(std::string_view s) {
    return s == "stop" || s == "quit" || s == "reload" || s == "reopen" || s == "upgrade";
}

std::string current_directory() {
    char buf[PATH_MAX];
    return getcwd(buf, sizeof buf) ? std::string(buf) : std::string(".");
}

}  // namespace

std::variant<Options, std::string> parse_options(int argc, const char* const* argv) {
    Options options;
    for (int i = 1; i < argc; i++) {
        std::string_view arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-')
            return "invalid option: \"" + std::string(arg) + "\"";
        char flag = arg[1];
        bool takes_value = flag == 'c' || flag == 'p' || flag == 'g' || flag == 's';
        if (!takes_value && arg.size() != 2)
            return "invalid option: \"" + std::string(arg) + "\"";
        std::string value;
        if (takes_value) {
            // nginx accepts both "-cfile" and "-c file".
            if (arg.size() > 2) {
                value = std::string(arg.substr(2));
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return "option \"-" + std::string(1, flag) + "\" requires " +
                       (flag == 's'   ? "signal name"
                        : flag == 'g' ? "directives"
                                      : "file name");
            }
        }
        switch (flag) {
            case 'c':
                options.conf_path = value;
                break;
            case 'p':
                options.prefix = value;
                if (options.prefix.empty() || options.prefix.back() != '/')
                    options.prefix += '/';
                break;
            case 'g':
                options.directives = value;
                break;
            case 's':
                if (!is_signal_name(value))
                    return "invalid option: \"-s " + value + "\"";
                options.signal = value;
                break;
            case 't':
                options.test_only = true;
                break;
            case 'v':
                options.show_version = true;
                break;
            case 'V':
                options.show_version = options.show_build = true;
                break;
            case 'h':
            case '?':
                options.show_help = true;
                break;
            default:
                return "invalid option: \"" + std::string(arg) + "\"";
        }
    }
    return options;
}

void resolve_paths(Options& options) {
    if (options.prefix.front() != '/')
        options.prefix = current_directory() + "/" + options.prefix;
    if (options.conf_path.front() != '/')
        options.conf_path = options.prefix + options.conf_path;
}

std::string usage() {
    return "Usage: pushrelay [-?hvVt] [-s signal] [-p prefix] [-c filename] [-g directives]\n"
           "\n"
           "Options:\n"
           "  -?,-h         : this help\n"
           "  -v            : show version and exit\n"
           "  -V            : show version and build options and exit\n"
           "  -t            : test configuration and exit\n"
           "  -s signal     : send signal to a master process: stop, quit, reopen, reload,\n"
           "                  upgrade\n"
           "  -p prefix     : set prefix path (default: " +
           std::string(kDefaultPrefix) +
           ")\n"
           "  -c filename   : set configuration file (default: " +
           kDefaultConf +
           ")\n"
           "  -g directives : set global directives out of configuration file\n";
}

std::string build_info() {
    std::string transports;
    for (std::string_view name : conf::transport_names()) transports += " " + std::string(name);
    return std::string("built by g++ ") + __VERSION__ + "\nbuilt with: transports" + transports +
           "; grip; redis (hiredis " + PUSHRELAY_HIREDIS_VERSION +
           ")\ninstall prefix: " + kInstallPrefix + "\n";
}

}  // namespace pushrelay::master
