#include "limit/zone.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <numeric>
#include <type_traits>

#include "core/worker_context.h"
#include "shm/lock.h"

namespace pushrelay::limit {
namespace {

constexpr uint64_t kMagic = 0x706c696d69747a31;  // "plimitz1"
// Bump when the layout below changes. Zones never outlive the master, so no reader ever sees
// another version; the field is there to make a stray mapping recognisable in a core dump.
constexpr uint32_t kLayoutVersion = 1;
constexpr uint32_t kNone = UINT32_MAX;
constexpr size_t kInlineKey = 46;
// key_len of an entry whose key was longer than kInlineKey: the key bytes are its digest.
constexpr uint8_t kDigestLength = kInlineKey + 1;
constexpr size_t kDigestBytes = 16;
// nginx frees at most two expired states per request, which bounds the work of one request.
constexpr int kExpirePerRequest = 2;

// The part of an entry every kind shares. Free entries chain through hash_next.
struct Entry {
    uint32_t hash_next;
    uint32_t lru_prev;  // towards the most recently used
    uint32_t lru_next;  // towards the least recently used
    uint32_t hash;
    uint8_t in_use;
    uint8_t key_len;  // bytes of key, or kDigestLength
    uint8_t key[kInlineKey];
};
// One cache line: the header of every lookup's probe.
static_assert(sizeof(Entry) == 64, "an entry's common part is one cache line");

struct ReqEntry {
    Entry head;
    BucketState bucket;
};

// A count per worker slot, so that the master can give back the counts of a worker that died.
// uint16_t: 65535 connections of one key in one worker is more than any limit_conn worth having.
struct ConnEntry {
    Entry head;
    uint16_t counts[core::kMaxWorkerSlots];
};

// Shared by every process mapping the zone; placed at the mapping's start, used from its bytes.
static_assert(std::is_trivially_copyable_v<ReqEntry> && std::is_trivially_copyable_v<ConnEntry>,
              "entries live in shared memory and are repaired from their bytes");

// A key as the table stores it: short keys as they are, long ones as a digest.
struct StoredKey {
    uint8_t len = 0;
    uint8_t bytes[kInlineKey] = {};
    uint32_t hash = 0;
};

uint64_t fnv1a(std::string_view bytes, uint64_t basis) {
    uint64_t h = basis;
    for (unsigned char c : bytes) {
        h = (h ^ c) * 0x100000001b3ull;
    }
    // The murmur3 finaliser: FNV's low bits alone spread short keys (4-byte addresses) poorly.
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

size_t stored_size(uint8_t len) {
    return len == kDigestLength ? kDigestBytes : len;
}

StoredKey stored_key(std::string_view key) {
    StoredKey k;
    uint64_t h = fnv1a(key, 0xcbf29ce484222325ull);
    k.hash = static_cast<uint32_t>(h);
    if (key.size() <= kInlineKey) {
        k.len = static_cast<uint8_t>(key.size());
        std::memcpy(k.bytes, key.data(), key.size());
        return k;
    }
    // Two independent 64-bit hashes: a collision of long keys would merge their counts, at odds
    // of about 2^-128 for keys not built to collide.
    uint64_t second = fnv1a(key, 0x84222325cbf29ce4ull);
    k.len = kDigestLength;
    std::memcpy(k.bytes, &h, sizeof h);
    std::memcpy(k.bytes + sizeof h, &second, sizeof second);
    return k;
}

// Orders the stores around in_use for a process that dies between them (crash consistency):
// the process's own stores reach memory in program order, only the compiler could move them.
void store_barrier() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
}

}  // namespace

struct ZoneHeader {
    uint64_t magic;
    uint32_t version;
    uint32_t entry_size;
    conf::LimitZone::Kind kind;
    shm::RobustMutex mutex;
    uint32_t capacity;
    uint32_t lru_head;  // most recently used
    uint32_t lru_tail;  // least recently used
    uint32_t free_head;
    uint32_t used;
    uint64_t evictions;
};
static_assert(std::is_standard_layout_v<ZoneHeader>,
              "the header lives in shared memory and is used from every process's mapping");

namespace {

constexpr size_t kEntriesOffset = (sizeof(ZoneHeader) + 63) / 64 * 64;

// The table inside a mapping; every call expects the zone's mutex held.
class Table {
  public:
    explicit Table(ZoneHeader* header)
        : h_(*header),
          entries_(reinterpret_cast<char*>(header) + kEntriesOffset),
          buckets_(reinterpret_cast<uint32_t*>(entries_ + size_t{h_.capacity} * h_.entry_size)) {}

    Entry& at(uint32_t i) {
        return *reinterpret_cast<Entry*>(entries_ + size_t{i} * h_.entry_size);
    }
    BucketState& bucket(uint32_t i) { return reinterpret_cast<ReqEntry&>(at(i)).bucket; }
    uint16_t* counts(uint32_t i) { return reinterpret_cast<ConnEntry&>(at(i)).counts; }

    uint32_t find(const StoredKey& k) {
        for (uint32_t i = buckets_[k.hash % h_.capacity]; i != kNone; i = at(i).hash_next) {
            Entry& e = at(i);
            if (e.hash == k.hash && e.key_len == k.len &&
                std::memcmp(e.key, k.bytes, stored_size(k.len)) == 0) {
                return i;
            }
        }
        return kNone;
    }

    // A new entry for k with a zeroed state, most recently used; kNone when none is free.
    uint32_t insert(const StoredKey& k) {
        uint32_t i = h_.free_head;
        if (i == kNone) {
            return kNone;
        }
        Entry& e = at(i);
        h_.free_head = e.hash_next;
        std::memset(reinterpret_cast<char*>(&e) + sizeof(Entry), 0, h_.entry_size - sizeof(Entry));
        e.hash = k.hash;
        e.key_len = k.len;
        std::memcpy(e.key, k.bytes, sizeof e.key);
        store_barrier();
        e.in_use = 1;
        store_barrier();
        link(i);
        return i;
    }

    void remove(uint32_t i) {
        Entry& e = at(i);
        e.in_use = 0;
        store_barrier();
        uint32_t* link = &buckets_[e.hash % h_.capacity];
        while (*link != i) {
            link = &at(*link).hash_next;
        }
        *link = e.hash_next;
        unlink_lru(i);
        e.hash_next = h_.free_head;
        h_.free_head = i;
        --h_.used;
    }

    void touch(uint32_t i) {
        if (h_.lru_head != i) {
            unlink_lru(i);
            push_lru_head(i);
        }
    }

    uint32_t lru_tail() const { return h_.lru_tail; }

    // Derives the chains, the LRU list and the free list from the in_use entries again, after a
    // process died holding the lock. Entries whose key is impossible, and Conn entries without a
    // count, are freed. The LRU order is lost (entries come back in table order): the next
    // evictions may pick a recent key, which costs that key its history and nothing else.
    void rebuild() {
        std::fill(buckets_, buckets_ + h_.capacity, kNone);
        h_.lru_head = h_.lru_tail = h_.free_head = kNone;
        h_.used = 0;
        for (uint32_t i = h_.capacity; i-- > 0;) {
            Entry& e = at(i);
            if (e.in_use && e.key_len <= kDigestLength && !(is_conn() && idle(i))) {
                link(i);
            } else {
                e.in_use = 0;
                e.hash_next = h_.free_head;
                h_.free_head = i;
            }
        }
    }

    bool idle(uint32_t i) {
        uint16_t* c = counts(i);
        return std::all_of(c, c + core::kMaxWorkerSlots, [](uint16_t n) { return n == 0; });
    }

    bool is_conn() const { return h_.kind == conf::LimitZone::Kind::Conn; }

    bool consistent() {
        uint32_t listed = 0;
        for (uint32_t i = h_.lru_head; i != kNone; i = at(i).lru_next) {
            Entry& e = at(i);
            StoredKey k;
            k.len = e.key_len;
            k.hash = e.hash;
            std::memcpy(k.bytes, e.key, sizeof k.bytes);
            if (!e.in_use || find(k) != i || (is_conn() && idle(i)) || ++listed > h_.capacity) {
                return false;
            }
        }
        uint32_t free = 0;
        for (uint32_t i = h_.free_head; i != kNone && free <= h_.capacity; i = at(i).hash_next) {
            free += at(i).in_use ? h_.capacity + 1 : 1;
        }
        return listed == h_.used && free + listed == h_.capacity;
    }

  private:
    void link(uint32_t i) {
        Entry& e = at(i);
        uint32_t& head = buckets_[e.hash % h_.capacity];
        e.hash_next = head;
        head = i;
        push_lru_head(i);
        ++h_.used;
    }

    void push_lru_head(uint32_t i) {
        Entry& e = at(i);
        e.lru_prev = kNone;
        e.lru_next = h_.lru_head;
        (h_.lru_head == kNone ? h_.lru_tail : at(h_.lru_head).lru_prev) = i;
        h_.lru_head = i;
    }

    void unlink_lru(uint32_t i) {
        Entry& e = at(i);
        (e.lru_prev == kNone ? h_.lru_head : at(e.lru_prev).lru_next) = e.lru_next;
        (e.lru_next == kNone ? h_.lru_tail : at(e.lru_next).lru_prev) = e.lru_prev;
    }

    ZoneHeader& h_;
    char* entries_;
    uint32_t* buckets_;
};

size_t entry_size(conf::LimitZone::Kind kind) {
    return kind == conf::LimitZone::Kind::Conn ? sizeof(ConnEntry) : sizeof(ReqEntry);
}

}  // namespace

// Holds the zone's mutex for a scope, repairing the table first if its last holder died.
class Zone::Locked {
  public:
    explicit Locked(const Zone& zone) : header_(*zone.header_) {
        if (header_.mutex.lock()) {
            Table(&header_).rebuild();
        }
    }
    ~Locked() { header_.mutex.unlock(); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

    Table table() { return Table(&header_); }
    ZoneHeader& header() { return header_; }

  private:
    ZoneHeader& header_;
};

std::variant<std::unique_ptr<Zone>, std::string> Zone::create(const conf::LimitZone& conf) {
    size_t per_entry = entry_size(conf.kind) + sizeof(uint32_t);  // the entry and its bucket
    if (conf.size < kEntriesOffset + per_entry) {
        return "zone \"" + conf.name + "\" is too small";
    }
    void* address =
        mmap(nullptr, conf.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED) {
        return "mmap(" + std::to_string(conf.size) + ") for zone \"" + conf.name +
               "\" failed: " + std::strerror(errno);
    }
    auto* h = new (address) ZoneHeader{};
    h->magic = kMagic;
    h->version = kLayoutVersion;
    h->entry_size = static_cast<uint32_t>(entry_size(conf.kind));
    h->kind = conf.kind;
    h->capacity = static_cast<uint32_t>(
        std::min<uint64_t>((conf.size - kEntriesOffset) / per_entry, kNone - 1));
    if (int error = h->mutex.init(); error != 0) {
        munmap(address, conf.size);
        return std::string("pthread_mutex_init() for zone \"") + conf.name +
               "\" failed: " + std::strerror(error);
    }
    Table(h).rebuild();  // every entry free (the mapping is zeroed), empty chains
    return std::unique_ptr<Zone>(new Zone(address, conf.size, conf));
}

Zone::Zone(void* address, uint64_t size, const conf::LimitZone& conf)
    : header_(static_cast<ZoneHeader*>(address)),
      size_(size),
      name_(conf.name),
      kind_(conf.kind),
      key_text_(conf.key.text()) {}

Zone::~Zone() {
    munmap(header_, size_);
}

BucketDecision Zone::request(std::string_view key, int64_t now, const BucketRule& rule,
                             bool account) {
    Locked lock(*this);
    Table table = lock.table();
    for (int n = 0; n < kExpirePerRequest; ++n) {
        uint32_t oldest = table.lru_tail();
        if (oldest == kNone || !expired(table.bucket(oldest), now, rule.rate)) {
            break;
        }
        table.remove(oldest);
    }
    StoredKey k = stored_key(key);
    uint32_t i = table.find(k);
    std::optional<BucketState> state;
    if (i != kNone) {
        state = table.bucket(i);
        table.touch(i);
    }
    BucketDecision decision = leak(state, now, rule);
    if (!account || !decision.pass) {
        return decision;
    }
    if (i == kNone && (i = table.insert(k)) == kNone) {
        table.remove(table.lru_tail());
        ++lock.header().evictions;
        i = table.insert(k);
    }
    table.bucket(i) = decision.next;
    return decision;
}

ConnOutcome Zone::acquire(std::string_view key, uint32_t limit, int slot) {
    Locked lock(*this);
    Table table = lock.table();
    StoredKey k = stored_key(key);
    uint32_t i = table.find(k);
    if (i == kNone) {
        i = table.insert(k);
        if (i == kNone) {
            return ConnOutcome::ZoneFull;
        }
    }
    uint16_t* counts = table.counts(i);
    uint32_t total = std::accumulate(counts, counts + core::kMaxWorkerSlots, 0u);
    if (total >= limit || counts[slot] == UINT16_MAX) {
        return ConnOutcome::OverLimit;
    }
    ++counts[slot];
    table.touch(i);
    return ConnOutcome::Counted;
}

void Zone::release(std::string_view key, int slot) {
    Locked lock(*this);
    Table table = lock.table();
    uint32_t i = table.find(stored_key(key));
    // Absent only if the zone was repaired after this worker's count was lost with a crashed
    // holder's half-made entry: nothing to give back.
    if (i == kNone) {
        return;
    }
    uint16_t& count = table.counts(i)[slot];
    if (count > 0) {
        --count;
    }
    if (table.idle(i)) {
        table.remove(i);
    }
}

void Zone::reset_slot(int slot) {
    if (kind_ != conf::LimitZone::Kind::Conn) {
        return;
    }
    Locked lock(*this);
    Table table = lock.table();
    uint32_t capacity = header_->capacity;
    for (uint32_t i = 0; i < capacity; ++i) {
        if (!table.at(i).in_use) {
            continue;
        }
        table.counts(i)[slot] = 0;
        if (table.idle(i)) {
            table.remove(i);
        }
    }
}

uint32_t Zone::used() const {
    Locked lock(*this);
    return lock.header().used;
}

uint32_t Zone::capacity() const {
    return header_->capacity;  // fixed at create()
}

uint64_t Zone::evictions() const {
    Locked lock(*this);
    return lock.header().evictions;
}

bool Zone::consistent() const {
    Locked lock(*this);
    return lock.table().consistent();
}

}  // namespace pushrelay::limit
