#include "shm/sequencing.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <unordered_set>
#include <vector>

#include "shm/crash_point.h"
#include "shm/repair.h"

namespace pushrelay::shm {
namespace {

bool is_listed(const Sequencing& seq, const SeqRecord* record) {
    for (const SeqRecord* r = seq.list.get(); r != nullptr; r = r->next_in_list.get()) {
        if (r == record)
            return true;
    }
    return false;
}

void publish_next_wake(Sequencing& seq) {
    const std::int64_t next = seq.by_wake.empty() ? INT64_MAX : seq.by_wake.begin()->wake_at_ms;
    seq.next_wake_ms.store(next, std::memory_order_relaxed);
}

SeqRecord* build_record(Root& root, std::string_view key, const SeqValue& value) {
    void* memory =
        root.manager->allocate(sizeof(SeqRecord) + key.size() + value.state.size(), std::nothrow);
    if (memory == nullptr)
        return nullptr;
    auto* record = new (memory) SeqRecord();
    record->wake_at_ms = value.wake_at_ms;
    record->state_len = value.state.size();
    record->key_len = static_cast<std::uint32_t>(key.size());
    record->waiting = value.waiting;
    char* bytes = reinterpret_cast<char*>(record + 1);
    if (!key.empty())
        std::memcpy(bytes, key.data(), key.size());
    if (!value.state.empty())
        std::memcpy(bytes + key.size(), value.state.data(), value.state.size());
    return record;
}

// The list is committed by the one store of the head; the back link is derived.
void list_record(Sequencing& seq, SeqRecord& record) {
    SeqRecord* head = seq.list.get();
    record.next_in_list = head;
    record.prev_in_list = nullptr;
    if (head != nullptr)
        head->prev_in_list = &record;
    seq.list = &record;
}

// Committed by the one store of the predecessor's link (or the head).
void unlist_record(Sequencing& seq, SeqRecord& record) {
    SeqRecord* prev = record.prev_in_list.get();
    SeqRecord* next = record.next_in_list.get();
    (prev != nullptr ? prev->next_in_list : seq.list) = next;
    if (next != nullptr)
        next->prev_in_list = prev;
}

void index_record(Sequencing& seq, SeqRecord& record) {
    seq.by_key.insert_unique(record);
    seq.by_wake.insert_unique(record);
    ++seq.records;
    seq.waiting += record.waiting;
}

void unindex_record(Sequencing& seq, SeqRecord& record) {
    seq.by_key.erase(seq.by_key.iterator_to(record));
    seq.by_wake.erase(seq.by_wake.iterator_to(record));
    --seq.records;
    seq.waiting -= record.waiting;
}

// Un-named from the intent before the block goes (a death in between leaks it, never frees it
// twice).
void free_record(Root& root, SeqRecord& record) {
    Sequencing& seq = root.sequencing;
    if (seq.adding.get() == &record)
        seq.adding = nullptr;
    if (seq.removing.get() == &record)
        seq.removing = nullptr;
    record.~SeqRecord();
    root.manager->deallocate(&record);
}

void relink_list(Sequencing& seq) {
    SeqRecord* prev = nullptr;
    for (SeqRecord* r = seq.list.get(); r != nullptr; r = r->next_in_list.get()) {
        r->prev_in_list = prev;
        prev = r;
    }
}

// A replacement cut short: done when its new record got listed (or there was none: a plain
// removal), undone otherwise.
void settle_intent(Root& root) {
    Sequencing& seq = root.sequencing;
    SeqRecord* adding = seq.adding.get();
    SeqRecord* removing = seq.removing.get();
    if (adding != nullptr && !is_listed(seq, adding)) {
        free_record(root, *adding);
        seq.removing = nullptr;  // the old record stays: the step is undone
        return;
    }
    seq.adding = nullptr;
    if (removing != nullptr && is_listed(seq, removing))
        unlist_record(seq, *removing);
    if (removing != nullptr)
        free_record(root, *removing);
}

}  // namespace

SeqLock::SeqLock(Root& root) noexcept : root_(root) {
    if (root_.sequencing.lock.lock()) {
        StoreLock store(root_);
        repair_sequencing(root_);
    }
}

SeqLock::~SeqLock() {
    root_.sequencing.lock.unlock();
}

SeqRecord* find_record(Root& root, std::string_view key) noexcept {
    auto it = root.sequencing.by_key.find(key, SeqKeyLess());
    return it == root.sequencing.by_key.end() ? nullptr : &*it;
}

bool replace_record(Root& root, SeqRecord* old, std::string_view key,
                    const SeqValue& value) noexcept {
    Sequencing& seq = root.sequencing;
    SeqRecord* record = build_record(root, key, value);
    if (record == nullptr) {
        if (old != nullptr)
            remove_record(root, *old);
        return false;
    }
    seq.adding = record;
    seq.removing = old;
    crash_point();
    list_record(seq, *record);
    crash_point();
    if (old != nullptr) {
        unlist_record(seq, *old);
        crash_point();
        unindex_record(seq, *old);
    }
    index_record(seq, *record);
    publish_next_wake(seq);
    seq.adding = nullptr;
    crash_point();
    if (old != nullptr)
        free_record(root, *old);
    return true;
}

void remove_record(Root& root, SeqRecord& record) noexcept {
    Sequencing& seq = root.sequencing;
    seq.removing = &record;
    crash_point();
    unlist_record(seq, record);
    crash_point();
    unindex_record(seq, record);
    publish_next_wake(seq);
    free_record(root, record);
}

void repair_sequencing(Root& root) noexcept {
    Sequencing& seq = root.sequencing;
    relink_list(seq);
    settle_intent(root);
    // Both trees are rebuilt rather than trusted, as the channel indexes are (shm/repair.cc).
    std::construct_at(&seq.by_key);
    std::construct_at(&seq.by_wake);
    seq.records = seq.waiting = 0;
    for (SeqRecord* r = seq.list.get(); r != nullptr; r = r->next_in_list.get())
        index_record(seq, *r);
    publish_next_wake(seq);
}

void check_sequencing(const Root& root, std::vector<std::string>& problems) {
    const Sequencing& seq = root.sequencing;
    std::unordered_set<const SeqRecord*> listed;
    const SeqRecord* prev = nullptr;
    std::uint64_t waiting = 0;
    for (const SeqRecord* r = seq.list.get(); r != nullptr; r = r->next_in_list.get()) {
        if (!listed.insert(r).second) {
            problems.push_back("the sequencing list has a cycle");
            break;
        }
        if (r->prev_in_list.get() != prev)
            problems.push_back("a sequencing record has a wrong back link");
        prev = r;
        waiting += r->waiting;
    }
    std::size_t by_key = 0, by_wake = 0;
    for (const SeqRecord& r : seq.by_key) by_key += listed.contains(&r) ? 1 : listed.size() + 1;
    for (const SeqRecord& r : seq.by_wake) by_wake += listed.contains(&r) ? 1 : listed.size() + 1;
    if (by_key != listed.size() || by_wake != listed.size())
        problems.push_back("a sequencing index and the sequencing list differ");
    if (seq.records != listed.size() || seq.waiting != waiting)
        problems.push_back("the sequencing record or waiting count is off");
    const std::int64_t first = seq.by_wake.empty() ? INT64_MAX : seq.by_wake.begin()->wake_at_ms;
    if (seq.next_wake_ms.load(std::memory_order_relaxed) != first)
        problems.push_back("the sequencing next wake is stale");
    if (seq.adding || seq.removing)
        problems.push_back("a sequencing replacement's intent was left behind");
}

}  // namespace pushrelay::shm
