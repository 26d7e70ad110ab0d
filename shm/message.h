// Messages in the segment: allocation and the release of claims on them. Internal to shm/.
//
// A message's refcount is the number of its claims: being queued, each mailbox event carrying it,
// each ledger entry and each loose pin (shm/pins.h). Every claim is one aligned word somewhere in
// the segment, so repair() can recount them after a crash; a message whose claims change is named
// in Root::intent first, so that one left without any claim is found and freed.
//
// Every function here must be called with Root::lock held.
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/crash_point.h"
#include "shm/layout.h"

namespace pushrelay::shm {

// A new message without any claim, named in Root::intent, or nullptr when the segment is full.
// Header, content type, event and body are one allocation. The caller queues it or posts it, then
// calls release_new_message().
Message* new_message(Root& root, core::MessageId id, std::string_view content_type,
                     std::string_view event, std::string_view body,
                     std::int64_t expires_at_ms) noexcept;

// The message's id. No lock needed: time and tag never change after publish.
core::MessageId id_of(const Message& message) noexcept;

// Ends new_message()'s naming: frees the message if nothing claimed it.
void release_new_message(Root& root, Message& message) noexcept;

// Frees the message if it has no claim left and clears Root::intent.message.
// Precondition: the message is named there.
void forget_if_unclaimed(Root& root, Message& message) noexcept;

// Removes one claim on `message`: names it, runs remove_claim() (which clears the word that held
// the claim), drops one reference and frees the message with its last.
template <typename RemoveClaim>
void drop_claim(Root& root, Message& message, RemoveClaim remove_claim) noexcept {
    root.intent.message = &message;
    crash_point();
    remove_claim();
    crash_point();
    --message.refcount;
    crash_point();
    forget_if_unclaimed(root, message);
}

// Offset of `message` from the heap's start, the base of every pin: never 0 (the heap's own
// header comes first).
std::uint64_t offset_of(const Root& root, const Message& message) noexcept;

// The message at `offset`; no lock needed (it only computes an address).
Message& message_at_offset(const Root& root, std::uint64_t offset) noexcept;

}  // namespace pushrelay::shm
