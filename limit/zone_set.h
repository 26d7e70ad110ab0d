// limit/zone_set.h — the zones of one Config, in the order of Config::limit_zones.
//
// The master builds a ZoneSet before it forks a generation of workers, which inherit it (and its
// mappings) and look zones up by the index their rules carry. On reload the master builds the
// next set from the previous one: a zone declared again with the same name, kind, size and key
// is the same mapping, so its counts and buckets carry over to the new workers while the old ones
// finish; anything else gets a fresh zone (a changed one is logged at notice). The master's only
// other call is reset_slot, when a worker is gone.
//
// Single-threaded (the master, or one worker); the zones inside lock for themselves.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "conf/conf.h"
#include "limit/zone.h"

namespace pushrelay::limit {

class ZoneSet {
  public:
    ZoneSet() = default;

    // The zones config declares, reusing those of `previous` (may be null) declared alike. The
    // error names the zone and the failing call.
    static std::variant<ZoneSet, std::string> build(const conf::Config& config,
                                                    const ZoneSet* previous);

    // The zone of Config::limit_zones[index]; index is valid for the config this set was built
    // for. The reference lives as long as this set.
    Zone& at(size_t index) const { return *zones_[index]; }
    size_t size() const { return zones_.size(); }

    // A worker in `slot` is gone: every limit_conn count it held is given back.
    void reset_slot(int slot) const;

  private:
    // Shared: a zone kept across a reload belongs to both generations' sets in the master.
    std::vector<std::shared_ptr<Zone>> zones_;
};

}  // namespace pushrelay::limit
