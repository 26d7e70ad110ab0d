// push/grip_sequencer.h — the ordering and de-duplication of GRIP publish items (grip.md
// "Ordering, de-duplication (id / prev-id)") on one channel: the id of the last item that went
// out (L), the items waiting for their predecessor, and the ids recently seen.
//
// Pure logic, run by whichever worker takes a publish or finds a waiting item due: no sockets,
// no broker, no clock. The caller passes the time and receives the items that go out through the
// Emit callback, in the order they must reach the broker. The state of a channel is a plain value
// (GripChannelState) that the caller keeps server-wide as opaque bytes (encode_state /
// decode_state) in the shared segment, through broker::Broker::sequence_grip(), which runs one
// step at a time per server (doc/decisions.md "GRIP sequencing is server-wide").
//
// Invariants: a channel's `waiting` holds at most kMaxWaiting items, no two with the same prev-id,
// in arrival order (so deadlines are in order for one message_wait); a state is kept only while
// it has waiting items or its forget_at_ms is ahead (wake_at() says nullopt otherwise).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/channel.h"
#include "grip/item.h"

namespace pushrelay::push {

// One channel's sequencing state. Times are the publishing workers' monotonic clock (ms), which
// every process of the server shares.
struct GripChannelState {
    struct Waiting {
        grip::Item item;
        core::ChannelLimits limits;
        std::int64_t deadline_ms = 0;
    };
    std::optional<std::string> last_id;                        // L
    std::deque<Waiting> waiting;                               // arrival order
    std::unordered_map<std::string, std::int64_t> seen_until;  // id -> expiry
    std::int64_t id_cache_ttl_ms = 0;  // of the latest publish (push_grip_id_cache_ttl)
    // When the channel may be forgotten: 60 s after its last submit, and never before its
    // last remembered id expires (so a forgotten channel has no live id left).
    std::int64_t forget_at_ms = 0;
};

// The state as bytes for the shared segment, and back. The bytes are a private format of this
// build (a version byte first), not for disk or the network. decode_state() returns nullopt for
// bytes encode_state() did not produce; "" decodes to a fresh state (a channel never seen).
std::string encode_state(const GripChannelState& state);
std::optional<GripChannelState> decode_state(std::string_view bytes);
// L of the state `bytes` (nullopt: unset, or bytes encode_state() did not produce).
std::optional<std::string> last_sent_id(std::string_view bytes);

// One step on one channel's state. Holds references: `state` and `emit` outlive the sequencer,
// which lives for one step (a submit, a tick, a recover) and is then dropped.
class GripSequencer {
  public:
    // grip.md "Limits": out-of-order items waiting per channel.
    static constexpr std::size_t kMaxWaiting = 100;
    // grip.md: a channel's L and waiting items are forgotten 60 s after its last hold ended.
    // Holds are not known here: 60 s after the channel's last publish instead (decisions.md).
    static constexpr std::int64_t kForgetAfterMs = 60'000;

    // An item going out on the sequencer's channel, with `limits`. Returns false when the broker
    // refused it (a full segment): the item did not go out, so L and the id cache do not record
    // it.
    using Emit = std::function<bool(const grip::Item& item, const core::ChannelLimits& limits)>;

    // The two timings of push_grip_message_wait and push_grip_id_cache_ttl (0: no de-dup).
    struct Timing {
        std::int64_t message_wait_ms = 5'000;
        std::int64_t id_cache_ttl_ms = 60'000;
    };

    enum class Outcome : std::uint8_t {
        Sent,       // went out (with any waiting item it released)
        Waiting,    // waits for its predecessor or the message wait
        Duplicate,  // its id was seen within the id cache ttl: dropped (a publisher's retry)
        Dropped,    // a second waiter on the same prev-id, or kMaxWaiting reached
        NoSpace,    // Emit refused it; nothing recorded
    };

    GripSequencer(GripChannelState& state, const Emit& emit) : state_(state), emit_(emit) {}
    GripSequencer(const GripSequencer&) = delete;
    GripSequencer& operator=(const GripSequencer&) = delete;

    // One item of a publish at `now_ms`.
    Outcome submit(grip::Item item, const core::ChannelLimits& limits, Timing timing,
                   std::int64_t now_ms);

    // Waiting items whose wait is over go out (L follows them); expired ids are forgotten.
    // Returns how many items went out.
    std::size_t tick(std::int64_t now_ms);

    // POST …/recover: L is forgotten (waiting items keep their deadline).
    void recover() { state_.last_id.reset(); }

    // When tick() has work next: the earliest waiting deadline, or the forgetting when nothing
    // waits; nullopt when the state has nothing left to keep at `now_ms` (forget it).
    std::optional<std::int64_t> wake_at(std::int64_t now_ms) const;

    // Items this sequencer dropped as Duplicate (a status figure).
    std::uint32_t duplicates() const { return duplicates_; }

  private:
    // Sends `item` and then every waiting item it releases (each names the previous one's id).
    // Returns how many went out; 0 when Emit refused `item`.
    std::size_t send(const grip::Item& item, const core::ChannelLimits& limits,
                     std::int64_t now_ms);
    // Records that `item` went out: its id in the cache, L (unless no-seq).
    void record(const grip::Item& item, std::int64_t now_ms);
    // Remembers `item`'s id for the id cache ttl (no id or ttl 0: nothing).
    void remember(const grip::Item& item, std::int64_t now_ms);

    GripChannelState& state_;
    const Emit& emit_;
    std::uint32_t duplicates_ = 0;
};

}  // namespace pushrelay::push
