// Recovery from a process killed while it held the store's lock, and the store's consistency
// check. Internal to shm/; the public entry points are Store's (every call locks through
// StoreLock; Store::check() runs check()). doc/shm-layout.md, "Crash consistency", describes the
// protocol.
//
// Invariants repair() relies on (each kept by the write order of shm/channel.cc, shm/mailbox.cc,
// shm/pins.cc and shm/message.cc): the fields layout.h marks "truth" are exact at every point a
// process can die; every block that a death could leave unreachable is named in Root::intent.
// Redis mode's cache fields (Channel::remote_gen, remote_live, wanted_mask) are truth: repair
// leaves them as they are, and check() reports a live channel made by a subscriber or a want
// from a slot without a mailbox.
#pragma once

#include <string>
#include <vector>

#include "shm/layout.h"

namespace pushrelay::shm {

// Brings the store back to a consistent state after a lock holder died: rebuilds the derived
// fields and both channel indexes from the truth, recounts every reachable message's claims,
// frees what the dead process left unclaimed, completes a channel destruction it had begun and
// undoes a creation it had not finished. O(channels + messages + events + ledger entries).
// Idempotent: if the repairing process dies too, the next locker repairs again.
// Precondition: Root::lock held.
void repair(Root& root) noexcept;

// Everything found inconsistent in the store, in words; empty when it is consistent. Allocates
// (it is for tests and diagnostics only). Precondition: Root::lock held.
std::vector<std::string> check(const Root& root);

// Holds Root::lock for its scope, repairing first if its previous owner died holding it.
class StoreLock {
  public:
    explicit StoreLock(Root& root) noexcept;
    // Also records now_ms as the latest time seen, which repair() settles channels with.
    StoreLock(Root& root, std::int64_t now_ms) noexcept;
    ~StoreLock();
    StoreLock(const StoreLock&) = delete;
    StoreLock& operator=(const StoreLock&) = delete;

  private:
    Root& root_;
};

}  // namespace pushrelay::shm
