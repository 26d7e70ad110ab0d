// Location regexes (`location ~ re` / `location ~* re`): PCRE2 patterns compiled at load.
//
// Owned by conf/: compiled in the master, matched by workers (after fork) when they route a
// request. A Regex is immutable once compiled, so forked workers share it freely.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/values.h"

namespace pushrelay::conf {

class Regex {
  public:
    // Compiles pattern (caseless for `~*`). The error, on failure, carries PCRE2's message and
    // the offset it points at.
    static Parsed<std::shared_ptr<const Regex>> compile(std::string_view pattern, bool caseless);

    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Whether subject matches. On a match, *captures holds groups 1..n (an unset group is "");
    // otherwise it is left empty.
    bool match(std::string_view subject, std::vector<std::string>* captures) const;

  private:
    struct CodeFree {
        void operator()(pcre2_code* code) const { pcre2_code_free(code); }
    };

    explicit Regex(pcre2_code* code) : code_(code) {}

    std::unique_ptr<pcre2_code, CodeFree> code_;
};

}  // namespace pushrelay::conf
