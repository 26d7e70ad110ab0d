// The directive table, man/pushrelay.conf.5 and dist/pushrelay.conf list the same directives.
//
// The table is what the parser accepts; the man page and the example conf are what users read.
// These tests fail when a directive (or an alias) is added to one and not the others, and when
// the man page's Alias, Default or Context line for a directive disagrees with the table.
//
// The man page's convention, which the parser below relies on: each directive's entry opens with
// a no-fill block of lines "Syntax: NAME ...", "Alias: A, B" (if any), "Default: NAME VALUE;"
// (or an em dash) and "Context: main, events, http, server, location" (or "any").
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "conf/conf.h"

namespace pushrelay::conf {
namespace {

using Names = std::set<std::string, std::less<>>;

constexpr std::string_view kEmDash = "\u2014";

std::string read_source_file(const std::string& relative) {
    std::ifstream in(std::string(PUSHRELAY_SOURCE_DIR) + "/" + relative);
    EXPECT_TRUE(in) << "cannot read " << relative;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::string_view trim(std::string_view text) {
    size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) {
        return {};
    }
    size_t end = text.find_last_not_of(" \t");
    return text.substr(begin, end - begin + 1);
}

// The first word of text: up to a space, a tab or ';'.
std::string first_word(std::string_view text) {
    text = trim(text);
    return std::string(text.substr(0, text.find_first_of(" \t;")));
}

// A man page line as it reads: font changes dropped, the escapes the page uses replaced.
std::string plain_text(std::string_view line) {
    static const std::vector<std::pair<std::string_view, std::string_view>> kEscapes{
        {"\\fB", ""},       {"\\fI", ""},   {"\\fR", ""},    {"\\fP", ""}, {"\\&", ""},
        {"\\(em", kEmDash}, {"\\(aq", "'"}, {"\\(dq", "\""}, {"\\-", "-"}, {"\\e", "\\"},
    };
    std::string out;
    for (size_t i = 0; i < line.size();) {
        bool replaced = false;
        for (const auto& [escape, text] : kEscapes) {
            if (line.substr(i).starts_with(escape)) {
                out += text;
                i += escape.size();
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            out += line[i++];
        }
    }
    return out;
}

// One directive's entry in the man page, as written there.
struct ManEntry {
    Names aliases;
    std::string default_line;
    std::string context_line;
};

// The value after "Field:" if line starts with it.
std::optional<std::string_view> field(std::string_view line, std::string_view name) {
    if (!line.starts_with(name) || !line.substr(name.size()).starts_with(':')) {
        return std::nullopt;
    }
    return trim(line.substr(name.size() + 1));
}

Names split_list(std::string_view list) {
    Names names;
    while (!list.empty()) {
        size_t comma = list.find(',');
        names.emplace(trim(list.substr(0, comma)));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return names;
}

// Directive name -> its entry. A name documented twice is a test failure.
std::map<std::string, ManEntry, std::less<>> man_entries(const std::string& page) {
    std::map<std::string, ManEntry, std::less<>> entries;
    ManEntry* current = nullptr;
    for (const std::string& raw : lines_of(page)) {
        std::string line = plain_text(raw);
        if (auto syntax = field(line, "Syntax")) {
            auto [it, inserted] = entries.try_emplace(first_word(*syntax));
            EXPECT_TRUE(inserted) << it->first << " is documented twice";
            current = &it->second;
        } else if (!current) {
            continue;
        } else if (auto aliases = field(line, "Alias")) {
            current->aliases = split_list(*aliases);
        } else if (auto default_line = field(line, "Default")) {
            current->default_line = *default_line;
        } else if (auto context = field(line, "Context")) {
            current->context_line = *context;
        }
    }
    return entries;
}

Names documented_names(const std::string& page) {
    Names names;
    for (const auto& [name, entry] : man_entries(page)) {
        names.insert(name);
        names.insert(entry.aliases.begin(), entry.aliases.end());
    }
    return names;
}

// The directive names a conf text mentions: the first word of every statement, active or
// commented out. A statement is text ended by ';' or '{' outside quotes, so prose comments
// (which end with neither) mention nothing, and a trailing comment is not read.
Names conf_mentions(const std::string& conf) {
    Names names;
    for (const std::string& line : lines_of(conf)) {
        std::string_view rest = trim(line);
        while (rest.starts_with('#')) {
            rest.remove_prefix(1);
        }
        std::string statement;
        char quote = 0;
        for (char c : rest) {
            if (quote != 0) {
                quote = c == quote ? 0 : quote;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '#') {
                break;
            } else if (c == ';' || c == '{' || c == '}') {
                if (c != '}' && !first_word(statement).empty()) {
                    names.insert(first_word(statement));
                }
                statement.clear();
                continue;
            }
            statement += c;
        }
    }
    return names;
}

Names table_names() {
    Names names;
    for (const DirectiveSpec& spec : directive_table()) {
        names.emplace(spec.name);
        names.insert(spec.aliases.begin(), spec.aliases.end());
    }
    return names;
}

// "in A only: x y; in B only: z", empty when the sets are equal.
std::string difference(const Names& a, std::string_view a_name, const Names& b,
                       std::string_view b_name) {
    std::string only_a;
    std::string only_b;
    for (const std::string& name : a) {
        only_a += b.contains(name) ? "" : " " + name;
    }
    for (const std::string& name : b) {
        only_b += a.contains(name) ? "" : " " + name;
    }
    if (only_a.empty() && only_b.empty()) {
        return {};
    }
    return "in " + std::string(a_name) + " only:" + only_a + "; in " + std::string(b_name) +
           " only:" + only_b;
}

// The Default line the man page must show for spec.
std::string expected_default(const DirectiveSpec& spec) {
    if (spec.default_text.empty() || (spec.flags & kArgumentDefault)) {
        return std::string(kEmDash);
    }
    return std::string(spec.name) + " " + std::string(spec.default_text) + ";";
}

// The Context line the man page must show for spec.
std::string expected_context(const DirectiveSpec& spec) {
    if (spec.contexts == kAnyContext) {
        return "any";
    }
    static const std::vector<std::pair<Context, std::string_view>> kNames{
        {kMain, "main"},     {kEvents, "events"},     {kHttp, "http"},
        {kServer, "server"}, {kLocation, "location"},
    };
    std::string line;
    for (const auto& [bit, name] : kNames) {
        if (spec.contexts & bit) {
            line += (line.empty() ? "" : ", ") + std::string(name);
        }
    }
    return line;
}

TEST(DocsSync, ManPageDocumentsEveryDirectiveAndAlias) {
    Names documented = documented_names(read_source_file("man/pushrelay.conf.5"));
    EXPECT_EQ(difference(table_names(), "the table", documented, "pushrelay.conf.5"), "");
}

TEST(DocsSync, ExampleConfMentionsEveryDirectiveAndAlias) {
    Names mentioned = conf_mentions(read_source_file("dist/pushrelay.conf"));
    EXPECT_EQ(difference(table_names(), "the table", mentioned, "dist/pushrelay.conf"), "");
}

TEST(DocsSync, ManPageAgreesWithTheTable) {
    auto entries = man_entries(read_source_file("man/pushrelay.conf.5"));
    for (const DirectiveSpec& spec : directive_table()) {
        auto entry = entries.find(spec.name);
        if (entry == entries.end()) {
            continue;  // reported by ManPageDocumentsEveryDirectiveAndAlias
        }
        SCOPED_TRACE(std::string(spec.name));
        EXPECT_EQ(entry->second.aliases, Names(spec.aliases.begin(), spec.aliases.end()));
        EXPECT_EQ(entry->second.default_line, expected_default(spec));
        EXPECT_EQ(entry->second.context_line, expected_context(spec));
    }
}

// The parsers above, on text whose answer is known, so that a passing sync test means
// something.
TEST(DocsSync, ConfMentionsReadsStatementsNotProse) {
    Names mentioned = conf_mentions(
        "# A prose comment, even with a name like pid in it.\n"
        "worker_processes 2;  # trailing; comment\n"
        "#   daemon on;\n"
        "http { log_format x 'a;b{c' \"d;\";\n"
        "    server { listen 80; } }\n");
    EXPECT_EQ(mentioned,
              (Names{"worker_processes", "daemon", "http", "log_format", "server", "listen"}));
}

TEST(DocsSync, ManEntriesReadTheEntryBlock) {
    auto entries = man_entries(
        ".SS push_sample\n"
        ".nf\n"
        "Syntax:   \\fBpush_sample\\fP \\fItime\\fP;\n"
        "Alias:    \\fBpush_old\\fP, \\fBpush_older\\fP\n"
        "Default:  push_sample 1h;\n"
        "Context:  http, server\n"
        ".fi\n"
        "Syntax:   \\fBevents\\fP { ... }\n"
        "Default:  \\(em\n");
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries["push_sample"].aliases, (Names{"push_old", "push_older"}));
    EXPECT_EQ(entries["push_sample"].default_line, "push_sample 1h;");
    EXPECT_EQ(entries["push_sample"].context_line, "http, server");
    EXPECT_EQ(entries["events"].default_line, kEmDash);
}

}  // namespace
}  // namespace pushrelay::conf
