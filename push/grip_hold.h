// push/grip_hold.h — GRIP holds (shared/grip.md "Response hold", "Stream hold", "Reliability"): a
// client request the origin told us to keep open, subscribed to its channels, answered or streamed
// to by what is published there.
//
// A Hold is one held exchange and one Member per channel (the push/multiplex.h pattern): the
// members are what push::Subscriptions holds, each on its own channel, so walks, timeouts, the
// graceful stop and the waiter accounting are the push subscribers' own. GRIP keeps no history:
// members wait for new messages only, take GRIP items (Subscription::takes_grip_items) and
// bridged push messages. A stream hold with a next link fetches it (push/grip_link.h) on a gap,
// a hint, a quiet channel or a refresh, and takes the answer's channels: members of channels it
// no longer names retire (leave without ending the hold), new ones join.
//
// Invariants: a hold is answered exactly once (answered_); when it is answered, or any member
// that is not retired ends, every member leaves its channel (with the ClientGone accounting). A
// member never leaves from inside a delivery (a walk is stepping over it): the hold asks
// GripProxy::soon(). Once answered_, nothing touches the exchange, and no fetch or timer of the
// hold acts.
//
// Worker process, the loop's thread only. Members keep the Hold alive (shared_ptr); it goes with
// the last of them. Every live hold is registered with its GripProxy (refresh_holds()).
#pragma once

#include <ev.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "grip/instruction.h"
#include "grip/item.h"
#include "http/connection.h"
#include "push/grip_link.h"
#include "push/grip_proxy.h"
#include "push/subscriptions.h"
#include "upstream/response_parser.h"

namespace pushrelay::push {

// The hold response: the timeout response of a response hold, the head and first bytes of a
// stream hold, and the base every published http-response builds on. Kept for as long as the hold
// lasts: hold_response_of() makes it no bigger than its contents.
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

// A stream hold's next link as the origin-form target to fetch (grip.md "Reliability"), resolved
// against `base_target` (the request that got the instruction): nullopt without a link. An error
// when the link names another host than the location's origin, or when a channel has a prev-id
// and there is no link (a gap could never be filled).
std::variant<std::optional<std::string>, grip::InstructionError> stream_link(
    const grip::Instruction& instruction, std::string_view base_target,
    const conf::GripSettings& settings);

class Hold : public std::enable_shared_from_this<Hold>, private http::ExchangeObserver {
  public:
    // Subscribes a new hold of `instruction` (mode Response or Stream) on `exchange`: one
    // broker registration per channel, all or none (a refusal: 502). The hold lives on in its
    // members.
    static void start(GripProxy& proxy, http::Exchange& exchange, grip::Instruction instruction,
                      HoldResponse response);
    ~Hold() override;

    // A /recover: a response hold re-requests, a stream hold fetches its next link (without
    // one: nothing). Nothing once answered.
    virtual void refresh() = 0;

  protected:
    // A hold keeps of its instruction only what it acts on while held: the channels (their
    // prev-ids checked, sent back as Grip-Last); a stream hold keeps its keep-alive and link.
    Hold(GripProxy& proxy, http::Exchange& exchange, std::vector<grip::HoldChannel> channels,
         HoldResponse response);

    // What one channel's message means to this kind of hold.
    virtual void deliver(std::size_t position, const Payload& payload) = 0;
    // A member ended for `why` (TimedOut, Stopping, Restarting, Deleted): the hold is over.
    virtual void finish(Ending why) = 0;
    // Once subscribed: a stream sends its head now.
    virtual void begin() {}

    // Every member leaves its channel, from the loop; the exchange is no longer this hold's.
    void leave();
    // Answers afresh: the exchange's request goes to the origin again.
    void rerequest();
    // Holds `channels` from now on (a next link's answer): members of channels still named stay
    // (at their new positions), the others retire and leave, new channels are subscribed. All
    // or nothing: on a broker refusal (its reason returned) the hold is as it was.
    std::optional<std::string> resubscribe(const std::vector<grip::HoldChannel>& channels);

    GripProxy& proxy_;
    http::Exchange& exchange_;
    std::vector<grip::HoldChannel> channels_;  // by position, as the instruction named them
    HoldResponse response_;
    bool answered_ = false;

  private:
    class Member;
    // What this hold's members count as (push_stub_status, channel info).
    virtual core::SubscriberKind member_kind() const = 0;
    void exchange_aborted() override;
    void member_gone(std::size_t position);
    // One Member per result, at the position paired with it, taking its hold's kind.
    void add_members(const std::vector<std::pair<std::size_t, broker::SubscribeResult>>& added,
                     conf::Millis timeout);

    std::vector<Subscription*> members_;  // by channel position; nullptr once gone
    bool ending_ = false;
};

class ResponseHold final : public Hold {
  public:
    ResponseHold(GripProxy& proxy, http::Exchange& exchange,
                 std::vector<grip::HoldChannel> channels, HoldResponse response);
    ~ResponseHold() override;
    void refresh() override;

  private:
    core::SubscriberKind member_kind() const override { return core::SubscriberKind::GripResponse; }
    void deliver(std::size_t position, const Payload& payload) override;
    void finish(Ending why) override;
    void answer(const HoldResponse& response);
};

class StreamHold final : public Hold {
  public:
    // `link`: the next link's target, resolved (stream_link()) from `instruction`, whose
    // channels, keep-alive and link timeout the stream holds.
    StreamHold(GripProxy& proxy, http::Exchange& exchange, grip::Instruction instruction,
               HoldResponse response, std::optional<std::string> link);
    ~StreamHold() override;
    void refresh() override;

    // Items kept while a fetch is under way, at most (Pushpin's limit); later ones are dropped.
    static constexpr std::size_t kMaxQueued = 100;

  private:
    // A message that came while a fetch was under way, by channel name: the answer may move
    // the channels.
    struct Queued {
        std::string channel;
        Payload payload;
    };

    core::SubscriberKind member_kind() const override { return core::SubscriberKind::GripStream; }
    void begin() override;
    void deliver(std::size_t position, const Payload& payload) override;
    void finish(Ending why) override;
    // The keep-alive and the link timeout of `instruction` (the first one's, or a next link's).
    void take_settings(const grip::Instruction& instruction);
    // One message on the channel at `position`, no fetch under way.
    void take(std::size_t position, const Payload& payload);
    // Whether `item` follows its channel's prev-id (or the channel has none).
    bool follows(std::size_t position, const grip::Item& item) const;
    // Appends `bytes`; a send on the channel at `position` counts for the link timeout.
    void send(std::string bytes, std::optional<std::size_t> position = std::nullopt);
    void end();
    // Ends the stream on a failed next link: push_grip_debug appends `reason`.
    void fail(std::string_view reason);
    void stop_timers();
    bool fetching() const;
    // Fetches the next link now, unless a fetch is under way or there is no link.
    void fetch_next();
    // Whether a channel's prev-id is not the last id the server sent on it.
    bool prev_id_behind() const;
    void on_fetched(LinkOutcome outcome);
    // The link's answer: its body is appended and its instruction replaces this one.
    void adopt(const LinkAnswer& answer);
    // The queued messages, once a fetch is done: those of channels no longer held go, and so do
    // the first ones that do not follow the new prev-ids (the answer covered them).
    void replay_queue();
    void arm_keep_alive();
    // Restarts the link timeout: every channel must have a send within it, else the link is
    // fetched.
    void arm_link_timer();
    static void on_keep_alive(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_link_timeout(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_retry(struct ev_loop* loop, ev_timer* w, int revents);

    ev_timer keep_alive_;
    ev_timer link_timer_;
    ev_timer retry_timer_;                            // between failed fetches
    std::optional<std::string> link_;                 // the next link's target
    int link_timeout_ = 0;                            // seconds, with a link
    std::optional<grip::KeepAlive> keep_alive_spec_;  // what and when the timer sends
    std::unique_ptr<LinkFetch> fetch_;                // the fetch under way
    int failures_ = 0;                                // failed fetches in a row
    std::vector<bool> active_;                        // by position: a send since arm_link_timer()
    std::deque<Queued> queue_;                        // while fetching()
};

}  // namespace pushrelay::push
