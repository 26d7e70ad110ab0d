// limit/zone.h — one limit_conn_zone or limit_req_zone: a fixed hash table of per-key states in
// its own anonymous shared mapping, with nginx's semantics for a zone that fills.
//
// The master creates a Zone before it forks (workers inherit the mapping) and keeps it across
// reloads while the conf declares it alike (limit/zone_set.h). Workers count in it; the master
// only gives back the counts of a worker that died (reset_slot). The zone's size is its own:
// nothing here touches the push segment, so a full zone never takes space from channels.
//
// Layout (doc/limits.md): a header (robust mutex, table geometry, LRU ends, free list), then
// `capacity` fixed-size entries, then `capacity` hash buckets. An entry is a key (up to 46 bytes
// inline, a 16-byte digest beyond), links, and its state: a leaky bucket (Req) or one connection
// count per worker slot (Conn), so that a dead worker's counts can be found and given back.
//
// Thread safety: every call takes the zone's process-shared robust mutex; none blocks on
// anything else while holding it.
// Invariants (under the mutex): an entry is in the table iff its in_use flag is set; in_use
// entries are exactly those on the LRU list and in the hash chains; a Conn entry's counts are
// not all zero.
// Crash consistency: in_use, the key and the state are the truth; the chains, the LRU list and
// the free list are derived. A process that dies holding the lock leaves them possibly half
// linked; the next locker rebuilds them from the entries (repair()), and the master's
// reset_slot of the dead worker gives back its connection counts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "conf/conf.h"
#include "limit/bucket.h"

namespace pushrelay::limit {

struct ZoneHeader;

enum class ConnOutcome : uint8_t {
    Counted,    // the connection holds one count until release()
    OverLimit,  // the key already holds `limit` connections
    ZoneFull,   // no entry is free for a new key (nginx refuses too: counts are not evicted)
};

class Zone {
  public:
    // Maps conf's declared size and lays an empty table in it. The error names the failing call.
    static std::variant<std::unique_ptr<Zone>, std::string> create(const conf::LimitZone& conf);

    ~Zone();  // unmaps this process's view; processes that inherited it keep theirs
    Zone(const Zone&) = delete;
    Zone& operator=(const Zone&) = delete;

    // Req zones. A request for key at now (ms, monotonic): the bucket's decision, stored when
    // `account` and the request passes (a new key takes a free entry, or the least recently
    // used one: nginx evicts old states when full). Without `account` nothing changes (the
    // check of all but the last limit_req of a location, as nginx does). Each call also frees
    // up to two expired entries (limit/bucket.h) from the LRU end, as nginx does.
    BucketDecision request(std::string_view key, int64_t now, const BucketRule& rule, bool account);

    // Conn zones. One more connection for key on worker `slot`, if it holds fewer than limit.
    ConnOutcome acquire(std::string_view key, uint32_t limit, int slot);
    // Gives back a count acquire() took for key on slot; the entry goes with its last count.
    void release(std::string_view key, int slot);
    // Master: a worker in `slot` is gone; its counts go (entries left empty are freed).
    void reset_slot(int slot);

    // For tests and the status of the zone: keys held, and the table's capacity.
    uint32_t used() const;
    uint32_t capacity() const;
    uint64_t evictions() const;
    // Whether the invariants above hold (takes the lock); for tests.
    bool consistent() const;

    const std::string& name() const { return name_; }
    conf::LimitZone::Kind kind() const { return kind_; }
    uint64_t size() const { return size_; }
    const std::string& key_text() const { return key_text_; }

  private:
    class Locked;
    Zone(void* address, uint64_t size, const conf::LimitZone& conf);

    ZoneHeader* header_;
    uint64_t size_;
    std::string name_;
    conf::LimitZone::Kind kind_;
    std::string key_text_;
};

}  // namespace pushrelay::limit
