// The benchmark's scenarios, run against any server that speaks the push
// relay protocol (pushrelay, nginx + Nchan) on a publisher and a subscriber
// address:
//   fanout   `subs` long-poll subscribers on `channels` channels; `rounds`
//            rounds of one message per channel, at most `window` rounds
//            outstanding (broadcast is fanout with one channel);
//   publish  `connections` publishers posting `size`-byte messages to their
//            own channels (no subscribers) for `duration` seconds;
//   idle     `subs` subscribers held (after the warm-up); prints a `held` line and waits for a
//            line on stdin (the orchestrator measures memory meanwhile), then
//            releases them with one message per channel (`release_rounds` rounds of them, at
//            most `window` outstanding), prints its result and keeps
//            the connections until stdin ends;
//   churn    subscribers that take one message, disconnect and reconnect
//            with its Last-Modified/Etag, under `rate` publishes/s;
//   get      `connections` keep-alive clients GETting `/get` from the subscriber address
//            back to back for `duration` seconds (a GRIP proxy's plain proxied requests).
// Every scenario with subscribers starts with a warm-up message (seq 1) to
// every channel, not measured. With several nodes (--pub and --sub lists), clients take the
// nodes round-robin, so that a channel's subscribers are on every node and its messages are
// published through one of them: every check holds across nodes. Subscribers use `transport`:
// long-poll (they iterate with Last-Modified/Etag, echoing them back verbatim), eventsource or
// websocket (one stream each); with `mux` > 1 each stream subscribes to that many channels at once
// (`id=a,b,...`, the servers split it on ","), grip-response (`/hold?c=`: idle only, the release is
// the measured part) or grip-stream (`/stream?c=`): clients of a GRIP proxy, publishing to its
// `/publish/` API (see Subscriber, Publisher). Every subscriber checks every message's sequence
// number per channel (loss, duplicates, order) and its publish-to-delivery latency. A run writes
// one JSON object to stdout.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pushrelay::bench {

struct Options {
    std::string scenario;
    // One address per node of a multi-node server (`--pub a,b,c`): publisher p posts to
    // pub[p % size], subscriber (or getter) i connects to sub[i % size].
    std::vector<sockaddr_in> pub;
    std::vector<sockaddr_in> sub;
    std::string prefix = "bench";         // channel ids are <prefix>-<n>: unique per run
    std::string transport = "long-poll";  // or eventsource, websocket, grip-response, grip-stream
    int mux = 1;                          // channels per subscriber (streams only)
    int subs = 1000;
    int channels = 10;
    int rounds = 20;
    int release_rounds = 1;  // idle: rounds published by the release
    int window = 2;
    int publishers = 4;
    int connections = 8;
    size_t size = 64;
    double duration = 3.0;
    double rate = 500;        // churn: publishes per second over all channels
    double timeout = 60.0;    // the whole run, setup included
    double settle = 0.5;      // seconds after the warm-up before measuring
    int connect_limit = 128;  // connects in progress at once
    double open_rate = 0;     // subscribers started per second; 0: all at once
};

// Runs opts.scenario; returns the process exit status (0: passed).
int run_scenario(const Options& opts);

}  // namespace pushrelay::bench
