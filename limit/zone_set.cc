#include "limit/zone_set.h"

#include <algorithm>

#include "core/log.h"

namespace pushrelay::limit {
namespace {

bool same_zone(const Zone& zone, const conf::LimitZone& conf) {
    return zone.kind() == conf.kind && zone.size() == conf.size &&
           zone.key_text() == conf.key.text();
}

// The zone of `previous` with conf's name, if any.
std::shared_ptr<Zone> previous_zone(const std::vector<std::shared_ptr<Zone>>& previous,
                                    const conf::LimitZone& conf) {
    auto it = std::find_if(previous.begin(), previous.end(),
                           [&conf](const auto& zone) { return zone->name() == conf.name; });
    return it == previous.end() ? nullptr : *it;
}

}  // namespace

std::variant<ZoneSet, std::string> ZoneSet::build(const conf::Config& config,
                                                  const ZoneSet* previous) {
    ZoneSet set;
    for (const conf::LimitZone& conf : config.limit_zones) {
        std::shared_ptr<Zone> old = previous ? previous_zone(previous->zones_, conf) : nullptr;
        if (old && same_zone(*old, conf)) {
            set.zones_.push_back(std::move(old));
            continue;
        }
        if (old) {
            LOG_NOTICE("%s \"%s\" changed its kind, size or key: it starts empty",
                       std::string(conf.directive()).c_str(), conf.name.c_str());
        }
        auto zone = Zone::create(conf);
        if (auto* error = std::get_if<std::string>(&zone)) {
            return *error;
        }
        set.zones_.push_back(std::move(std::get<std::unique_ptr<Zone>>(zone)));
    }
    return set;
}

void ZoneSet::reset_slot(int slot) const {
    for (const auto& zone : zones_) {
        zone->reset_slot(slot);
    }
}

}  // namespace pushrelay::limit
