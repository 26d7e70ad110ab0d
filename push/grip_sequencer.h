// push/grip_sequencer.h — the ordering and de-duplication of GRIP publish items (grip.md
// "Ordering, de-duplication (id / prev-id)"): per channel, the id of the last item that went
// out (L), the items waiting for their predecessor, and the ids recently seen.
//
// Run by a worker, from its loop only (single-threaded). Pure: no sockets, no broker, no clock;
// the caller passes the time and receives the items that go out through the Emit callback, in
// the order they must reach the broker.
//
// Interim (doc/decisions.md "GRIP sequencing is per worker"): each worker keeps its own state,
// so ordering and de-duplication hold among the publishes one worker takes, not server-wide. The
// state is a plain value keyed by channel so that it can move into the shared segment as opaque
// per-channel bytes without changing the rules below.
//
// Invariants: a channel's `waiting` holds at most kMaxWaiting items, no two with the same prev-id,
// in arrival order (so deadlines are in order for one message_wait); a channel is kept only while
// it has waiting items or its forget_at_ms is ahead.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/channel.h"
#include "grip/item.h"

namespace pushrelay::push {

class GripSequencer {
  public:
    // grip.md "Limits": out-of-order items waiting per channel.
    static constexpr std::size_t kMaxWaiting = 100;
    // grip.md: a channel's L and waiting items are forgotten 60 s after its last hold ended.
    // Holds are not known here (interim): 60 s after the channel's last publish instead.
    static constexpr std::int64_t kForgetAfterMs = 60'000;

    // An item going out: published to `key` with `limits`. Returns false when the broker refused
    // it (a full segment): the item did not go out, so L and the id cache do not record it.
    using Emit = std::function<bool(const std::string& key, const grip::Item& item,
                                    const core::ChannelLimits& limits)>;

    // The two timings of push_grip_message_wait and push_grip_id_cache_ttl (0: no de-dup).
    struct Timing {
        std::int64_t message_wait_ms = 5'000;
        std::int64_t id_cache_ttl_ms = 60'000;
    };

    enum class Outcome : std::uint8_t {
        Sent,     // went out (with any waiting item it released)
        Waiting,  // waits for its predecessor or the message wait
        Dropped,  // a repeated id, a second waiter on the same prev-id, or kMaxWaiting reached
        NoSpace,  // Emit refused it; nothing recorded
    };

    // `emit` must outlive the sequencer; it is called from submit(), tick() only.
    explicit GripSequencer(Emit emit) : emit_(std::move(emit)) {}
    GripSequencer(const GripSequencer&) = delete;
    GripSequencer& operator=(const GripSequencer&) = delete;

    // One item of a publish, for the channel `key` (group + "/" + item channel), at `now_ms`.
    Outcome submit(const std::string& key, grip::Item item, const core::ChannelLimits& limits,
                   Timing timing, std::int64_t now_ms);

    // Waiting items whose wait is over go out (L follows them); expired ids and idle channels
    // are forgotten. Returns how many items went out.
    std::size_t tick(std::int64_t now_ms);

    // Every waiting item goes now, whatever its deadline (in each channel's arrival order): for
    // a worker that stops, whose waiting items would otherwise be lost. Returns how many went.
    std::size_t flush(std::int64_t now_ms);

    // POST …/recover: every channel's L is forgotten (waiting items keep their deadline).
    void recover();

    // When tick() has work next: the earliest waiting deadline, or the next forgetting when
    // only idle state is kept; nullopt when nothing is kept.
    std::optional<std::int64_t> next_deadline() const;

    std::size_t channel_count() const { return channels_.size(); }

  private:
    struct Waiting {
        grip::Item item;
        core::ChannelLimits limits;
        std::int64_t deadline_ms;
    };
    struct Channel {
        std::optional<std::string> last_id;                        // L
        std::deque<Waiting> waiting;                               // arrival order
        std::unordered_map<std::string, std::int64_t> seen_until;  // id -> expiry
        std::int64_t id_cache_ttl_ms = 0;
        // When the channel may be forgotten: 60 s after its last submit, and never before its
        // last remembered id expires (so an idle channel has no live id left).
        std::int64_t forget_at_ms = 0;
    };

    // Sends `item` and then every waiting item it releases (each names the previous one's id).
    // Returns how many went out; 0 when Emit refused `item`.
    std::size_t send(const std::string& key, Channel& channel, const grip::Item& item,
                     const core::ChannelLimits& limits, std::int64_t now_ms);
    // Records that `item` went out: its id in the cache, L (unless no-seq).
    static void record(Channel& channel, const grip::Item& item, std::int64_t now_ms);
    // Remembers `item`'s id for the id cache ttl (no id or ttl 0: nothing).
    static void remember(Channel& channel, const grip::Item& item, std::int64_t now_ms);
    static bool idle(const Channel& channel, std::int64_t now_ms);
    // Sends the waiting items of `channel` whose deadline is at or before `due_ms`.
    std::size_t release_due(const std::string& key, Channel& channel, std::int64_t due_ms,
                            std::int64_t now_ms);

    Emit emit_;
    std::unordered_map<std::string, Channel> channels_;
};

}  // namespace pushrelay::push
