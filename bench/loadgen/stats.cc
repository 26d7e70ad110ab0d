#include "bench/loadgen/stats.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace pushrelay::bench {
namespace {

constexpr size_t kKeptErrors = 5;

std::optional<uint64_t> field(std::string_view body, std::string_view name) {
    size_t at = body.find(name);
    if (at == std::string_view::npos)
        return std::nullopt;
    const char* begin = body.data() + at + name.size();
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(begin, body.data() + body.size(), value);
    if (ec != std::errc() || end == begin)
        return std::nullopt;
    return value;
}

}  // namespace

std::string encode_message(const Stamp& stamp, size_t size) {
    char head[80];
    int n = std::snprintf(head, sizeof head, "seq=%llu c=%llu t=%llu ",
                          static_cast<unsigned long long>(stamp.seq),
                          static_cast<unsigned long long>(stamp.channel),
                          static_cast<unsigned long long>(stamp.sent_ns));
    std::string body(head, static_cast<size_t>(n));
    body.resize(std::max(size, body.size()), 'x');
    return body;
}

std::optional<Stamp> decode_message(std::string_view body) {
    auto seq = field(body, "seq=");
    auto channel = field(body, " c=");
    auto sent = field(body, " t=");
    if (!seq || !channel || !sent)
        return std::nullopt;
    return Stamp{*seq, *channel, *sent};
}

std::string Latencies::json() {
    if (samples_.empty())
        return "null";
    auto at = [this](double q) {
        size_t index = std::min(samples_.size() - 1, static_cast<size_t>(q * samples_.size()));
        std::nth_element(samples_.begin(), samples_.begin() + static_cast<long>(index),
                         samples_.end());
        return samples_[index];
    };
    char out[160];
    std::snprintf(out, sizeof out, R"({"p50": %u, "p90": %u, "p99": %u, "p999": %u, "max": %u})",
                  at(0.5), at(0.9), at(0.99), at(0.999),
                  *std::max_element(samples_.begin(), samples_.end()));
    return out;
}

void Tally::error(std::string what) {
    ++errors;
    note(std::move(what));
}

void Tally::note(std::string what) {
    if (first_errors.size() < kKeptErrors)
        first_errors.push_back(std::move(what));
}

std::string Tally::json() const {
    std::string out = R"("delivered": )" + std::to_string(delivered) + R"(, "lost": )" +
                      std::to_string(lost) + R"(, "duplicated": )" + std::to_string(duplicated) +
                      R"(, "errors": )" + std::to_string(errors) + R"(, "retried": )" +
                      std::to_string(retried) + R"(, "first_errors": [)";
    for (size_t i = 0; i < first_errors.size(); ++i) {
        if (i > 0)
            out += ", ";
        out += json_string(first_errors[i]);
    }
    out += R"(], "passed": )";
    out += passed() ? "true" : "false";
    return out;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace pushrelay::bench
