// push/grip_proxy.h — the GRIP proxy location (Role::GripProxy, shared/grip.md "Proxying"): each
// request goes to the location's origin; a plain answer streams back as it arrives, a GRIP answer
// (Grip-* headers or an application/grip-instruct body) is read whole and becomes an ordinary
// response or a hold (push/grip_hold.h).
//
// Worker process, the loop's thread only. One GripProxy per worker, owned by the Relay: it owns the
// worker's upstream::Pool per origin, the Grip-Sig caches, and every request in flight toward an
// origin but next-link fetches (owned by their stream holds, push/grip_link.h). It knows every
// hold of the worker (to refresh them on /recover) without owning any: their members do. It never
// publishes (the publish location is push/grip_publish.*) and never touches the shared segment
// except through the broker, as any subscriber does.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/broker.h"
#include "grip/instruction.h"
#include "grip/sig.h"
#include "http/connection.h"
#include "push/grip_link.h"
#include "push/subscriptions.h"
#include "upstream/client.h"

namespace pushrelay::push {

class Hold;
class OriginCall;

// The location's origin as a URI authority, "host:port" ("[::1]:port" for IPv6): what an
// absolute next link must name, and the Host of a request whose client sent none.
std::string origin_authority(const conf::GripSettings& settings);

// This worker's GRIP figures (for logs and tests). The status page's are server-wide: holds through
// Broker::set_held, re-requests and origin errors through Broker::count_grip_*.
struct GripFigures {
    std::uint64_t held_responses = 0;  // response holds open now
    std::uint64_t held_streams = 0;    // stream holds open now
    std::uint64_t rerequests = 0;
    std::uint64_t origin_errors = 0;  // 502s and cut bodies
};

class GripProxy {
  public:
    // `broker`, `subscriptions` and `loop` outlive the proxy.
    GripProxy(broker::Broker& broker, Subscriptions& subscriptions, struct ev_loop* loop);
    // Abandons the requests in flight toward origins (their exchanges are closed by
    // http::Connections, which goes first).
    ~GripProxy();
    GripProxy(const GripProxy&) = delete;
    GripProxy& operator=(const GripProxy&) = delete;

    // Proxies one request of a push_grip_proxy location.
    void handle(http::Exchange& exchange);
    // A graceful stop: the holds already held are ended by Subscriptions::stop_all() (a reload
    // keeps them until they end); a hold that begins from now on gets its hold response at once
    // (the client polls another worker).
    void stop() { stopping_ = true; }
    bool stopping() const { return stopping_; }

    // For holds: sends `exchange`'s request again (fresh Grip-Sig, one Grip-Last per channel
    // with a prev-id) and handles the answer afresh on it.
    void rerequest(http::Exchange& exchange, const std::vector<grip::HoldChannel>& channels);
    // For stream holds: starts GET `target` (origin form) toward the location's origin with the
    // Host of `exchange`'s request, a fresh Grip-Sig, Grip-Feature and one Grip-Last per channel
    // with a prev-id. `done` gets the answer (see LinkFetch).
    std::unique_ptr<LinkFetch> fetch_link(const http::Exchange& exchange, std::string target,
                                          const std::vector<grip::HoldChannel>& channels,
                                          LinkFetch::Done done);
    // POST …/recover was taken by some worker (Broker::announce_grip_recover): every hold of
    // this worker refreshes (grip.md "Reliability"): a response hold re-requests, a stream hold
    // with a next link fetches it (one without: nothing).
    void refresh_holds();
    // For Hold: a hold registers while it lives, so that refresh_holds() reaches it.
    void track(Hold& hold) { holds_.insert(&hold); }
    void untrack(Hold& hold) { holds_.erase(&hold); }
    // The unit of the backoff between failed next-link fetches (1 s; tests shorten it).
    double link_retry_unit() const { return link_retry_unit_; }
    void set_link_retry_unit(double seconds) { link_retry_unit_ = seconds; }
    // For OriginCall: a GRIP answer read whole.
    void on_grip_response(http::Exchange& exchange, const upstream::ResponseHead& head,
                          const std::string& body);
    // Answers 502 (push_grip_debug: with `reason`) and counts an origin error.
    void bad_gateway(http::Exchange& exchange, std::string_view reason);
    // Runs `work` from the loop after the current callbacks (an object ending itself, a hold
    // leaving its channels outside a delivery walk).
    void soon(std::function<void()> work);
    // An OriginCall is done: destroyed from the loop, never under its own call.
    void retire(OriginCall* call);

    broker::Broker& broker() { return broker_; }
    Subscriptions& subscriptions() { return subscriptions_; }
    struct ev_loop* loop() const {
        return loop_;
    }
    GripFigures& figures() { return figures_; }
    // Counted here (this worker) and for the status page (server-wide).
    void count_origin_error();
    void count_rerequest();

  private:
    // `trusted`: the request has a valid Grip-Sig under push_grip_upstream_key, so the answer
    // gets no GRIP processing (and is never held).
    void start(http::Exchange& exchange, bool trusted,
               const std::vector<grip::HoldChannel>& channels);
    // Grip-Sig, Grip-Feature and the Grip-Last of `channels`: what every GRIP request adds.
    void add_grip_headers(std::vector<protocol::Header>& headers,
                          const conf::GripSettings& settings,
                          const std::vector<grip::HoldChannel>& channels);
    upstream::Pool& pool_for(const conf::GripSettings& settings);
    grip::SigCache& sig_for(const conf::GripSettings& settings);
    static void on_soon(struct ev_loop* loop, ev_timer* w, int revents);

    broker::Broker& broker_;
    Subscriptions& subscriptions_;
    struct ev_loop* loop_;
    // By origin and pool settings: a handful per worker.
    std::map<std::string, std::unique_ptr<upstream::Pool>> pools_;
    std::map<std::string, std::unique_ptr<grip::SigCache>> sigs_;  // by iss and key
    std::unordered_map<OriginCall*, std::unique_ptr<OriginCall>> calls_;
    std::unordered_set<Hold*> holds_;  // alive, registered by Hold itself
    double link_retry_unit_ = 1.0;
    std::vector<std::function<void()>> soon_;
    ev_timer soon_timer_;
    GripFigures figures_;
    bool stopping_ = false;
};

}  // namespace pushrelay::push
