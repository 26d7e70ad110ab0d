// push/grip_hold.h — GRIP holds (shared/grip.md "Response hold", "Stream hold"): a client request
// the origin told us to keep open, subscribed to its channels, answered or streamed to by what is
// published there.
//
// A Hold is one held exchange and one Member per channel (the push/multiplex.h pattern): the
// members are what push::Subscriptions holds, each on its own channel, so walks, timeouts, the
// graceful stop and the waiter accounting are the push subscribers' own. GRIP keeps no history:
// members wait for new messages only, take GRIP items (Subscription::takes_grip_items) and
// bridged push messages.
//
// Invariants: a hold is answered exactly once (answered_); when it is answered, or any member
// ends, every member leaves its channel (with the ClientGone accounting). A member never leaves
// from inside a delivery (a walk is stepping over it): the hold asks GripProxy::soon().
//
// Worker process, the loop's thread only. Members keep the Hold alive (shared_ptr); it goes with
// the last of them.
#pragma once

#include <ev.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grip/instruction.h"
#include "http/connection.h"
#include "push/grip_proxy.h"
#include "push/subscriptions.h"
#include "upstream/response_parser.h"

namespace pushrelay::push {

// The hold response: the timeout response of a response hold, the head and first bytes of a
// stream hold, and the base every published http-response builds on.
struct HoldResponse {
    int code = 200;
    std::string reason;
    std::vector<protocol::Header> headers;  // hop-by-hop, Grip-* and Content-Length removed
    std::string body;
};

// Drops the origin's Date and Server: protocol::ResponseHead writes pushrelay's own (as nginx's
// proxy does), and a response must not carry two of either.
void drop_head_writer_headers(std::vector<protocol::Header>& headers);

// The hold response of a GRIP answer: the instruct body's "response", else the origin's own
// status (Grip-Status applied), headers and body.
HoldResponse hold_response_of(const grip::Instruction& instruction,
                              const upstream::ResponseHead& head, const std::string& body);

// Answers `exchange` with `response` whole, with an exact Content-Length.
void respond_with(http::Exchange& exchange, const HoldResponse& response);

class Hold : public std::enable_shared_from_this<Hold>, private http::ExchangeObserver {
  public:
    // Subscribes a new hold of `instruction` (mode Response or Stream) on `exchange`: one
    // broker registration per channel, all or none (a refusal: 502). The hold lives on in its
    // members.
    static void start(GripProxy& proxy, http::Exchange& exchange,
                      std::shared_ptr<const ProxiedRequest> request, grip::Instruction instruction,
                      HoldResponse response);
    ~Hold() override;

  protected:
    Hold(GripProxy& proxy, http::Exchange& exchange, std::shared_ptr<const ProxiedRequest> request,
         grip::Instruction instruction, HoldResponse response);

    // What one channel's message means to this kind of hold.
    virtual void deliver(std::size_t position, const Payload& payload) = 0;
    // A member ended for `why` (TimedOut, Stopping, Restarting, Deleted): the hold is over.
    virtual void finish(Ending why) = 0;
    // Once subscribed: a stream sends its head now.
    virtual void begin() {}

    // Every member leaves its channel, from the loop; the exchange is no longer this hold's.
    void leave();
    // Answers afresh: the original request goes to the origin again.
    void rerequest();

    GripProxy& proxy_;
    http::Exchange& exchange_;
    std::shared_ptr<const ProxiedRequest> request_;
    grip::Instruction instruction_;
    HoldResponse response_;
    bool answered_ = false;

  private:
    class Member;
    void exchange_aborted() override;
    void member_gone(std::size_t position);

    std::vector<Subscription*> members_;  // by channel position; nullptr once gone
    bool ending_ = false;
};

class ResponseHold final : public Hold {
  public:
    ResponseHold(GripProxy& proxy, http::Exchange& exchange,
                 std::shared_ptr<const ProxiedRequest> request, grip::Instruction instruction,
                 HoldResponse response);
    ~ResponseHold() override;

  private:
    void deliver(std::size_t position, const Payload& payload) override;
    void finish(Ending why) override;
    void answer(const HoldResponse& response);
};

class StreamHold final : public Hold {
  public:
    StreamHold(GripProxy& proxy, http::Exchange& exchange,
               std::shared_ptr<const ProxiedRequest> request, grip::Instruction instruction,
               HoldResponse response);
    ~StreamHold() override;

  private:
    void begin() override;
    void deliver(std::size_t position, const Payload& payload) override;
    void finish(Ending why) override;
    void send(std::string bytes);
    void end();
    void arm_keep_alive();
    static void on_keep_alive(struct ev_loop* loop, ev_timer* w, int revents);

    ev_timer keep_alive_;
};

}  // namespace pushrelay::push
