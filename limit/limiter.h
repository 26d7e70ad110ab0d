// limit/limiter.h — limit_req and limit_conn in front of a worker's handler, as nginx's
// preaccess phase: after routing (the location decides the rules), before the push semantics.
//
// A Limiter is the http::Handler the worker's connections call; requests that pass go on to the
// next handler (the push Relay). For a location with rules it runs, in nginx's order:
//   1. limit_req: every rule's bucket is checked, and all are accounted if none refuses (nginx
//      checks all but the last without accounting, then accounts them all). A refusal answers
//      limit_req_status; a request beyond `delay` waits on a timer — never blocking the loop —
//      and a client that leaves meanwhile takes its timer with it.
//   2. limit_conn: one count per rule for the request's key, held until the exchange ends
//      however it ends (Exchange::on_end): answered, held then answered, streamed, aborted.
//      One rule over its limit (or its zone full) gives back the others and answers
//      limit_conn_status.
// A rule whose key evaluates to "" does not apply to the request, as in nginx.
//
// Runs in a worker, single-threaded, on the worker's loop. The zones are shared with the other
// workers and lock for themselves.
#pragma once

#include <ev.h>

#include <list>

#include "conf/conf.h"
#include "http/connection.h"
#include "limit/zone_set.h"

namespace pushrelay::limit {

class Limiter final : public http::Handler {
  public:
    // `next` gets the requests that pass. `config` is the one the exchanges' locations come
    // from and `zones` was built for it; `slot` is this worker's. All outlive the Limiter.
    Limiter(http::Handler& next, const conf::Config& config, const ZoneSet& zones, int slot);
    // Delayed requests still waiting lose their timers (their connections are closed first).
    ~Limiter() override;
    Limiter(const Limiter&) = delete;
    Limiter& operator=(const Limiter&) = delete;

    void handle(http::Exchange& exchange) override;

    // Requests waiting out a limit_req delay, for tests.
    size_t delayed() const { return delayed_.size(); }

  private:
    class Delayed;

    // limit_req: the delay in ms the request must wait (0: none), or nullopt when it was refused
    // (and answered).
    std::optional<int64_t> limit_requests(http::Exchange& exchange);
    // limit_conn, then the next handler.
    void limit_connections(http::Exchange& exchange);
    void wait(http::Exchange& exchange, int64_t delay_ms);
    void refuse(http::Exchange& exchange, int status, std::string_view reason);

    http::Handler& next_;
    const conf::Config& config_;
    const ZoneSet& zones_;
    int slot_;
    std::list<Delayed> delayed_;
};

}  // namespace pushrelay::limit
