// Sequencing states in the segment: one opaque byte string per key, with the time a caller must
// next visit it. Internal to shm/; the public API is Store::sequence() and friends (store.h), and
// doc/shm-layout.md "Sequencing" describes the records and their crash consistency.
//
// shm/ gives these bytes no meaning: the GRIP sequencer (push/grip_sequencer.h) is what reads and
// writes them, through the broker.
//
// Locks: every function here needs Sequencing::lock; those that change a record need Root::lock
// too (the heap is its), taken after Sequencing::lock. SeqLock takes the first and repairs what a
// dead holder left half done.
// Crash consistency: a record is never changed in place. A replacement builds the new block,
// names both blocks in Sequencing::adding/removing, lists the new one (one store of the list
// head), unlists the old one (one store of its predecessor's link), then re-indexes; repair
// finishes or undoes it by whether `adding` got listed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shm/layout.h"

namespace pushrelay::shm {

// Holds Sequencing::lock for its scope; if its previous owner died holding it, repairs the
// sequencing structures first (taking Root::lock for that, in the one allowed order).
class SeqLock {
  public:
    explicit SeqLock(Root& root) noexcept;
    ~SeqLock();
    SeqLock(const SeqLock&) = delete;
    SeqLock& operator=(const SeqLock&) = delete;

  private:
    Root& root_;
};

// The record of `key`, or nullptr. Needs Sequencing::lock.
SeqRecord* find_record(Root& root, std::string_view key) noexcept;

// What replace_record() puts in place of a key's record.
struct SeqValue {
    std::string_view state;
    std::int64_t wake_at_ms = 0;
    std::uint32_t waiting = 0;
};

// Replaces `old` (nullptr: none yet) by a new record of `key` holding `value`. False when the
// segment cannot take the new record: then `old` is removed too (forgotten rather than left
// stale, since the caller acted on the step that produced `value`). Needs both locks.
bool replace_record(Root& root, SeqRecord* old, std::string_view key,
                    const SeqValue& value) noexcept;

// Removes `record`. Needs both locks.
void remove_record(Root& root, SeqRecord& record) noexcept;

// Finishes or undoes a replacement cut short, and rebuilds every derived field from the list.
// O(records log records). Needs both locks. Idempotent.
void repair_sequencing(Root& root) noexcept;

// What is inconsistent in the sequencing structures, appended to `problems`. Needs both locks.
void check_sequencing(const Root& root, std::vector<std::string>& problems);

}  // namespace pushrelay::shm
