#include "push/grip_sequencer.h"

#include <algorithm>
#include <cstdint>

#include "core/bytes.h"

namespace pushrelay::push {
namespace {

// encode_state's format, version 1 (native byte order: the bytes never leave the server):
//   u8 version, u8 has_last_id, [str last_id], i64 id_cache_ttl_ms, i64 forget_at_ms,
//   u32 n_waiting, n × (str packed item (grip::pack_item), ChannelLimits bytes, i64 deadline),
//   u32 n_seen, n × (str id, i64 until)
// where str is a u32 length and the bytes.
constexpr std::uint8_t kStateVersion = 1;

using core::ByteReader;
using core::put_bytes;
using core::put_string;

bool get_waiting(ByteReader& in, GripChannelState::Waiting& waiting) {
    std::string packed;
    if (!in.get_string(packed) || !in.get(waiting.limits) || !in.get(waiting.deadline_ms))
        return false;
    std::optional<grip::Item> item = grip::unpack_item(packed);
    if (!item)
        return false;
    waiting.item = std::move(*item);
    return true;
}

}  // namespace

std::string encode_state(const GripChannelState& state) {
    std::string out;
    put_bytes<std::uint8_t>(out, kStateVersion);
    put_bytes<std::uint8_t>(out, state.last_id ? 1 : 0);
    if (state.last_id)
        put_string(out, *state.last_id);
    put_bytes(out, state.id_cache_ttl_ms);
    put_bytes(out, state.forget_at_ms);
    put_bytes<std::uint32_t>(out, static_cast<std::uint32_t>(state.waiting.size()));
    for (const GripChannelState::Waiting& waiting : state.waiting) {
        put_string(out, grip::pack_item(waiting.item));
        put_bytes(out, waiting.limits);
        put_bytes(out, waiting.deadline_ms);
    }
    put_bytes<std::uint32_t>(out, static_cast<std::uint32_t>(state.seen_until.size()));
    for (const auto& [id, until] : state.seen_until) {
        put_string(out, id);
        put_bytes(out, until);
    }
    return out;
}

std::optional<GripChannelState> decode_state(std::string_view bytes) {
    GripChannelState state;
    if (bytes.empty())
        return state;
    ByteReader in(bytes);
    std::uint8_t version = 0, has_last = 0;
    std::uint32_t count = 0;
    if (!in.get(version) || version != kStateVersion || !in.get(has_last) || has_last > 1)
        return std::nullopt;
    if (has_last && !in.get_string(state.last_id.emplace()))
        return std::nullopt;
    if (!in.get(state.id_cache_ttl_ms) || !in.get(state.forget_at_ms) || !in.get(count) ||
        count > GripSequencer::kMaxWaiting)
        return std::nullopt;
    for (std::uint32_t i = 0; i < count; ++i)
        if (!get_waiting(in, state.waiting.emplace_back()))
            return std::nullopt;
    if (!in.get(count))
        return std::nullopt;
    // No reserve(count): a corrupt count must not allocate; each entry costs 12+ bytes.
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string id;
        std::int64_t until = 0;
        if (!in.get_string(id) || !in.get(until))
            return std::nullopt;
        state.seen_until.emplace(std::move(id), until);
    }
    if (!in.done())
        return std::nullopt;
    return state;
}

std::optional<std::string> last_sent_id(std::string_view bytes) {
    std::optional<GripChannelState> state = decode_state(bytes);
    return state ? std::move(state->last_id) : std::nullopt;
}

GripSequencer::Outcome GripSequencer::submit(grip::Item item, const core::ChannelLimits& limits,
                                             Timing timing, std::int64_t now_ms) {
    state_.forget_at_ms = std::max(state_.forget_at_ms, now_ms + kForgetAfterMs);
    state_.id_cache_ttl_ms = timing.id_cache_ttl_ms;
    if (item.id) {
        auto seen = state_.seen_until.find(*item.id);
        if (seen != state_.seen_until.end() && seen->second > now_ms) {
            ++duplicates_;
            return Outcome::Duplicate;
        }
    }
    const bool in_order =
        item.no_seq || !item.prev_id || !state_.last_id || *item.prev_id == *state_.last_id;
    if (in_order)
        return send(item, limits, now_ms) > 0 ? Outcome::Sent : Outcome::NoSpace;
    // O(kMaxWaiting) scan: the list is bounded at 100.
    const bool same_prev = std::any_of(
        state_.waiting.begin(), state_.waiting.end(),
        [&](const GripChannelState::Waiting& w) { return w.item.prev_id == item.prev_id; });
    if (same_prev || state_.waiting.size() >= kMaxWaiting)
        return Outcome::Dropped;
    // Its id is remembered now, so a retry while it waits is dropped too.
    remember(item, now_ms);
    state_.waiting.push_back({std::move(item), limits, now_ms + timing.message_wait_ms});
    return Outcome::Waiting;
}

std::size_t GripSequencer::send(const grip::Item& item, const core::ChannelLimits& limits,
                                std::int64_t now_ms) {
    if (!emit_(item, limits))
        return 0;
    record(item, now_ms);
    std::size_t sent = 1;
    // Each item that went out may release the one waiting on its id, which may release the next.
    std::optional<std::string> released = item.no_seq ? std::nullopt : item.id;
    while (released) {
        auto next = std::find_if(
            state_.waiting.begin(), state_.waiting.end(),
            [&](const GripChannelState::Waiting& w) { return w.item.prev_id == released; });
        if (next == state_.waiting.end())
            break;
        GripChannelState::Waiting waiting = std::move(*next);
        state_.waiting.erase(next);
        // A refused release is lost like one at its deadline would be: the segment is full and
        // the publisher was already answered 200 (doc/decisions.md).
        if (!emit_(waiting.item, waiting.limits))
            break;
        record(waiting.item, now_ms);
        ++sent;
        released = waiting.item.no_seq ? std::nullopt : waiting.item.id;
    }
    return sent;
}

void GripSequencer::remember(const grip::Item& item, std::int64_t now_ms) {
    if (!item.id || state_.id_cache_ttl_ms <= 0)
        return;
    const std::int64_t until = now_ms + state_.id_cache_ttl_ms;
    state_.seen_until[*item.id] = until;
    state_.forget_at_ms = std::max(state_.forget_at_ms, until);
}

void GripSequencer::record(const grip::Item& item, std::int64_t now_ms) {
    remember(item, now_ms);
    if (!item.no_seq)
        state_.last_id = item.id;  // an item without id unsets L
}

std::size_t GripSequencer::tick(std::int64_t now_ms) {
    std::size_t sent = 0;
    // Deadlines are in arrival order (one message_wait per server); a release may remove later
    // entries, so the front is looked at afresh each time.
    while (!state_.waiting.empty() && state_.waiting.front().deadline_ms <= now_ms) {
        GripChannelState::Waiting waiting = std::move(state_.waiting.front());
        state_.waiting.pop_front();
        sent += send(waiting.item, waiting.limits, now_ms);
    }
    std::erase_if(state_.seen_until, [&](const auto& seen) { return seen.second <= now_ms; });
    return sent;
}

std::optional<std::int64_t> GripSequencer::wake_at(std::int64_t now_ms) const {
    if (!state_.waiting.empty())
        return state_.waiting.front().deadline_ms;
    if (now_ms >= state_.forget_at_ms)
        return std::nullopt;
    return state_.forget_at_ms;
}

}  // namespace pushrelay::push
