#include "conf/regex.h"

namespace pushrelay::conf {
namespace {

struct MatchDataFree {
    void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

Parsed<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern, bool caseless) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                      caseless ? PCRE2_CASELESS : 0, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error_code, message, sizeof message);
        return {std::nullopt,
                "pcre2_compile() failed: " + std::string(reinterpret_cast<const char*>(message)) +
                    " in \"" + std::string(pattern) + "\" at offset " +
                    std::to_string(error_offset)};
    }
    return {std::shared_ptr<const Regex>(new Regex(code)), {}};
}

bool Regex::match(std::string_view subject, std::vector<std::string>* captures) const {
    captures->clear();
    // One match data per call keeps Regex immutable; a location match is one small allocation.
    std::unique_ptr<pcre2_match_data, MatchDataFree> data(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    if (!data) {
        return false;
    }
    // An empty view may have no data pointer, which this PCRE2 version refuses.
    const char* bytes = subject.data() != nullptr ? subject.data() : "";
    int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(bytes), subject.size(), 0, 0,
                         data.get(), nullptr);
    if (rc < 0) {
        return false;
    }
    uint32_t groups = pcre2_get_ovector_count(data.get());
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    for (uint32_t i = 1; i < groups; ++i) {
        PCRE2_SIZE start = ovector[2 * i];
        PCRE2_SIZE end = ovector[2 * i + 1];
        captures->emplace_back(start == PCRE2_UNSET ? std::string_view()
                                                    : subject.substr(start, end - start));
    }
    return true;
}

}  // namespace pushrelay::conf
