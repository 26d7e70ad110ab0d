// The per-slot mailboxes: fixed-size event arrays in the segment. Internal to shm/.
//
// Every function here must be called with Root::lock held.
// Invariant: a slot that holds waiters on any channel has a mailbox (subscribe allocates it before
// registering the first waiter), so posting never allocates and never fails for lack of space;
// a full mailbox drops the event and sets the slot's overflow flag instead.
#pragma once

#include <cstdint>
#include <vector>

#include "shm/layout.h"

namespace pushrelay::shm {

// The slot's mailbox, allocated on first use; false when the segment is full.
bool ensure_mailbox(Root& root, int slot) noexcept;

// Posts an event of `kind` about `channel` to every slot holding waiters on it; Published events
// each carry their own pin on `message`. Returns the slots posted to, including those whose mailbox
// was full (they must still be woken, to resync).
std::uint64_t post_to_waiting_slots(Root& root, const Channel& channel, Store::Event::Kind kind,
                                    std::uint64_t before_seq, Message* message) noexcept;

// Moves the slot's pending events to `out` and reads-and-clears its overflow flag.
// Precondition: out has room for kMailboxCapacity more events without reallocating.
void drain(Root& root, int slot, std::vector<Store::Event>& out, bool& overflowed) noexcept;

// Unpins the slot's pending events and empties it and clears its flag.
void clear_mailbox(Root& root, int slot) noexcept;

}  // namespace pushrelay::shm
