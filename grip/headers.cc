// grip/headers.cc — see headers.h. Header lists are short (tens), so the O(n·m) scans below are
// cheaper than building sets.
#include "grip/headers.h"

#include <algorithm>

namespace pushrelay::grip {

namespace {

using protocol::Header;
using protocol::iequals;

bool is_grip(std::string_view name) {
    return name.size() >= 5 && iequals(name.substr(0, 5), "Grip-");
}

bool named_in(std::string_view name, const std::vector<std::string>& names) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& n) { return iequals(n, name); });
}

// The names a Connection header lists ("close" and "keep-alive" included, harmlessly).
std::vector<std::string> connection_options(const Headers& headers) {
    std::vector<std::string> names;
    for (const Header& h : headers) {
        if (!iequals(h.name, "Connection"))
            continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            const size_t comma = v.find(',');
            std::string_view name = protocol::trim_ows(v.substr(0, comma));
            if (!name.empty())
                names.emplace_back(name);
            v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
        }
    }
    return names;
}

template <typename Drop>
Headers filtered(const Headers& headers, Drop drop) {
    Headers out;
    out.reserve(headers.size());
    for (const Header& h : headers) {
        if (!drop(h.name))
            out.push_back(h);
    }
    return out;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
    for (std::string_view n : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                               "Transfer-Encoding", "Upgrade"}) {
        if (iequals(name, n))
            return true;
    }
    return false;
}

Headers without_hop_by_hop(const Headers& headers) {
    const std::vector<std::string> listed = connection_options(headers);
    return filtered(headers, [&](std::string_view name) {
        return is_hop_by_hop(name) || named_in(name, listed);
    });
}

Headers origin_request_headers(const Headers& client, bool trusted) {
    return filtered(without_hop_by_hop(client), [&](std::string_view name) {
        return iequals(name, "Expect") || iequals(name, "Accept-Encoding") ||
               iequals(name, "Content-Length") || (!trusted && is_grip(name));
    });
}

Headers grip_last_headers(const std::vector<HoldChannel>& channels) {
    Headers out;
    for (const HoldChannel& c : channels) {
        if (c.prev_id)
            out.push_back({"Grip-Last", c.name + "; last-id=" + *c.prev_id});
    }
    return out;
}

std::string bad_gateway_body(std::string_view reason, bool debug) {
    if (!debug || reason.empty())
        return "Error while proxying to origin.\n";
    return std::string(reason) + "\n";
}

void set_forwarded_for(Headers& headers, ForwardedFor mode, std::string_view address) {
    if (mode == ForwardedFor::Off)
        return;
    std::string value;
    if (mode == ForwardedFor::Append) {
        for (const Header& h : headers) {
            if (iequals(h.name, "X-Forwarded-For") && !h.value.empty())
                value.append(h.value).append(", ");
        }
    }
    value.append(address);
    headers =
        filtered(headers, [](std::string_view name) { return iequals(name, "X-Forwarded-For"); });
    headers.push_back({"X-Forwarded-For", std::move(value)});
}

Headers hold_response_headers(const Headers& origin,
                              const std::optional<std::vector<std::string>>& expose) {
    return filtered(without_hop_by_hop(origin), [&](std::string_view name) {
        return is_grip(name) || iequals(name, "Content-Length") ||
               (expose && !named_in(name, *expose));
    });
}

Headers merge_published_headers(const Headers& hold, const Headers& published) {
    Headers kept = filtered(published, [](std::string_view name) {
        return is_hop_by_hop(name) || iequals(name, "Content-Length");
    });
    Headers out = filtered(hold, [&](std::string_view name) {
        return std::any_of(kept.begin(), kept.end(),
                           [&](const Header& p) { return iequals(p.name, name); });
    });
    out.insert(out.end(), kept.begin(), kept.end());
    return out;
}

}  // namespace pushrelay::grip
