// loadgen: the benchmark's load generator. Usage:
//   loadgen SCENARIO --pub HOST:PORT[,HOST:PORT...] --sub HOST:PORT[,...] [--name value]...
// (a list: the nodes of a multi-node server, taken round-robin)
// with the names of Options (scenarios.h): --subs, --channels, --rounds,
// --release-rounds, --window, --publishers, --connections, --size, --duration, --rate,
// --timeout, --settle, --connect-limit, --open-rate, --prefix, --transport (long-poll,
// eventsource, websocket, grip-response, grip-stream), --mux. Prints one JSON object; exits 0
// when the run passed, 1 when it saw a loss, a duplicate or an error.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/loadgen/scenarios.h"

namespace {

using pushrelay::bench::Options;

bool parse_address(const std::string& text, sockaddr_in& out) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos)
        return false;
    out.sin_family = AF_INET;
    out.sin_port = htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
    return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

// "HOST:PORT,HOST:PORT,...": every one must parse.
bool parse_addresses(const std::string& text, std::vector<sockaddr_in>& out) {
    out.clear();
    for (size_t start = 0; start <= text.size();) {
        size_t comma = std::min(text.find(',', start), text.size());
        sockaddr_in address{};
        if (!parse_address(text.substr(start, comma - start), address))
            return false;
        out.push_back(address);
        start = comma + 1;
    }
    return true;
}

bool apply(Options& opts, const std::string& name, const std::string& value) {
    if (name == "--pub")
        return parse_addresses(value, opts.pub);
    if (name == "--sub")
        return parse_addresses(value, opts.sub);
    if (name == "--prefix")
        opts.prefix = value;
    else if (name == "--transport")
        opts.transport = value;
    else if (name == "--mux")
        opts.mux = std::atoi(value.c_str());
    else if (name == "--subs")
        opts.subs = std::atoi(value.c_str());
    else if (name == "--channels")
        opts.channels = std::atoi(value.c_str());
    else if (name == "--rounds")
        opts.rounds = std::atoi(value.c_str());
    else if (name == "--release-rounds")
        opts.release_rounds = std::atoi(value.c_str());
    else if (name == "--window")
        opts.window = std::atoi(value.c_str());
    else if (name == "--publishers")
        opts.publishers = std::atoi(value.c_str());
    else if (name == "--connections")
        opts.connections = std::atoi(value.c_str());
    else if (name == "--size")
        opts.size = static_cast<size_t>(std::atol(value.c_str()));
    else if (name == "--duration")
        opts.duration = std::atof(value.c_str());
    else if (name == "--rate")
        opts.rate = std::atof(value.c_str());
    else if (name == "--settle")
        opts.settle = std::atof(value.c_str());
    else if (name == "--timeout")
        opts.timeout = std::atof(value.c_str());
    else if (name == "--connect-limit")
        opts.connect_limit = std::atoi(value.c_str());
    else if (name == "--open-rate")
        opts.open_rate = std::atof(value.c_str());
    else
        return false;
    return true;
}

// 10,000 subscribers need as many descriptors: take the hard limit.
void raise_fd_limit() {
    rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: loadgen fanout|publish|idle|churn|get --pub H:P --sub H:P ...\n");
        return 2;
    }
    Options opts;
    opts.scenario = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!apply(opts, argv[i], argv[i + 1])) {
            std::fprintf(stderr, "loadgen: bad option %s %s\n", argv[i], argv[i + 1]);
            return 2;
        }
    }
    if (opts.pub.empty() || opts.sub.empty() || opts.channels < 1 || opts.size < 48 ||
        opts.mux < 1 || opts.mux > opts.channels) {
        std::fprintf(stderr,
                     "loadgen: --pub and --sub are required; channels >= mux >= 1, size >= 48\n");
        return 2;
    }
    bool stream = opts.transport == "eventsource" || opts.transport == "websocket";
    bool grip_ok =
        (opts.transport == "grip-response" && opts.scenario == "idle") ||
        (opts.transport == "grip-stream" && (opts.scenario == "idle" || opts.scenario == "fanout"));
    if (!(stream || grip_ok || opts.transport == "long-poll") || (opts.mux > 1 && !stream) ||
        (opts.scenario == "churn" && stream)) {
        std::fprintf(stderr,
                     "loadgen: --transport long-poll|eventsource|websocket|grip-response|"
                     "grip-stream; --mux and stream transports not with churn, --mux only with "
                     "streams, grip-response only with idle, grip-stream with idle or fanout\n");
        return 2;
    }
    raise_fd_limit();
    return pushrelay::bench::run_scenario(opts);
}
