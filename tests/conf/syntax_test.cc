#include "conf/syntax.h"

#include <gtest/gtest.h>

#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using testing::TempDir;

std::vector<Statement> parse_ok(std::string_view text) {
    std::vector<Statement> out;
    MaybeError err = parse_text(text, "t.conf", "/nonexistent", &out);
    EXPECT_FALSE(err) << err->describe();
    return out;
}

std::string parse_error(std::string_view text, const std::string& include_dir = "/nonexistent") {
    std::vector<Statement> out;
    MaybeError err = parse_text(text, "t.conf", include_dir, &out);
    return err ? err->describe() : "parsed";
}

TEST(Syntax, StatementsBlocksAndLines) {
    auto st = parse_ok("a 1 2;\nb {\n  c;\n}\n");
    ASSERT_EQ(st.size(), 2u);
    EXPECT_EQ(st[0].name, "a");
    EXPECT_EQ(st[0].args, (std::vector<std::string>{"1", "2"}));
    EXPECT_FALSE(st[0].has_block);
    EXPECT_EQ(st[0].line, 1);
    EXPECT_EQ(st[0].file, "t.conf");
    EXPECT_TRUE(st[1].has_block);
    ASSERT_EQ(st[1].block.size(), 1u);
    EXPECT_EQ(st[1].block[0].name, "c");
    EXPECT_EQ(st[1].block[0].line, 3);
}

TEST(Syntax, CommentsRunToEndOfLine) {
    auto st = parse_ok("# whole line\na b; # trailing { } ;\nc d#e;\n");
    ASSERT_EQ(st.size(), 2u);
    EXPECT_EQ(st[1].args, (std::vector<std::string>{"d#e"}));  // '#' inside a word is text
    EXPECT_EQ(st[1].line, 3);
}

TEST(Syntax, QuotedStringsAndEscapes) {
    auto st = parse_ok(R"(a "x y" 'single; {}' "q\"q" "b\\s" "\d+" "t\tn";)");
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].args,
              (std::vector<std::string>{"x y", "single; {}", "q\"q", "b\\s", "\\d+", "t\tn"}));
}

TEST(Syntax, EmptyQuotedStringIsAnArgument) {
    auto st = parse_ok(R"(a "";)");
    ASSERT_EQ(st[0].args.size(), 1u);
    EXPECT_EQ(st[0].args[0], "");
}

TEST(Syntax, QuotedStringMaySpanLines) {
    auto st = parse_ok("a \"x\ny\";\nb;");
    EXPECT_EQ(st[0].args[0], "x\ny");
    EXPECT_EQ(st[1].line, 3);
}

TEST(Syntax, VariableBracesStayInTheWord) {
    auto st = parse_ok("set $a ${b}c;");
    EXPECT_EQ(st[0].args, (std::vector<std::string>{"$a", "${b}c"}));
}

TEST(Syntax, MissingSemicolonBeforeBrace) {
    EXPECT_EQ(parse_error("b {\n  c 1\n}\n"), "t.conf:3: unexpected \"}\"");
}

TEST(Syntax, MissingSemicolonAtEnd) {
    EXPECT_EQ(parse_error("a 1;\nb 2"),
              "t.conf:2: unexpected end of file, expecting \";\" or \"}\"");
}

TEST(Syntax, MissingClosingBrace) {
    EXPECT_EQ(parse_error("b {\n  c;\n"), "t.conf:3: unexpected end of file, expecting \"}\"");
}

TEST(Syntax, UnbalancedClosingBrace) {
    EXPECT_EQ(parse_error("a;\n}\n"), "t.conf:2: unexpected \"}\"");
}

TEST(Syntax, StraySemicolonAndBrace) {
    EXPECT_EQ(parse_error("a;\n;\n"), "t.conf:2: unexpected \";\"");
    EXPECT_EQ(parse_error("{ a; }"), "t.conf:1: unexpected \"{\"");
}

TEST(Syntax, UnterminatedQuotedString) {
    std::string err = parse_error("a;\nb \"never closed;\nc;\n");
    EXPECT_EQ(err.rfind("t.conf:2: unterminated quoted string", 0), 0u) << err;
}

TEST(Syntax, TextGluedToAClosingQuote) {
    std::string err = parse_error("a \"x\"y;");
    EXPECT_EQ(err.rfind("t.conf:1: unexpected \"y\" after a quoted string", 0), 0u) << err;
}

TEST(Include, RelativeGlobIsSortedAndExpandedInPlace) {
    TempDir dir;
    dir.write("conf.d/b.conf", "b;\n");
    dir.write("conf.d/a.conf", "a1;\na2;\n");
    dir.write("conf.d/skip.txt", "nope;\n");
    std::vector<Statement> out;
    MaybeError err =
        parse_text("first;\ninclude conf.d/*.conf;\nlast;\n", "main.conf", dir.path(), &out);
    ASSERT_FALSE(err) << err->describe();
    std::vector<std::string> names;
    for (const Statement& st : out) {
        names.push_back(st.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"first", "a1", "a2", "b", "last"}));
    EXPECT_EQ(out[2].file, dir.path() + "/conf.d/a.conf");
    EXPECT_EQ(out[2].line, 2);
}

TEST(Include, InsideABlock) {
    TempDir dir;
    dir.write("inner.conf", "c;\n");
    std::vector<Statement> out;
    ASSERT_FALSE(parse_text("b { include inner.conf; }", "main.conf", dir.path(), &out));
    ASSERT_EQ(out[0].block.size(), 1u);
    EXPECT_EQ(out[0].block[0].name, "c");
}

TEST(Include, GlobMatchingNothingIsFine) {
    TempDir dir;
    EXPECT_EQ(parse_error("include none/*.conf;\n", dir.path()), "parsed");
}

TEST(Include, MissingPlainPathIsAnError) {
    TempDir dir;
    EXPECT_EQ(
        parse_error("a;\ninclude missing.conf;\n", dir.path()),
        "t.conf:2: open() \"" + dir.path() + "/missing.conf\" failed (No such file or directory)");
}

TEST(Include, AbsolutePath) {
    TempDir dir;
    std::string path = dir.write("x.conf", "x;\n");
    auto st = parse_ok("include " + path + ";");
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].name, "x");
}

TEST(Include, ErrorsNameTheIncludedFileAndLine) {
    TempDir dir;
    std::string path = dir.write("bad.conf", "ok;\nbroken {\n");
    EXPECT_EQ(parse_error("include bad.conf;", dir.path()),
              path + ":3: unexpected end of file, expecting \"}\"");
}

TEST(Include, NestedIncludesAreRelativeToTheMainDirectory) {
    TempDir dir;
    dir.write("a/one.conf", "include b/two.conf;\n");
    dir.write("b/two.conf", "two;\n");
    auto out = std::vector<Statement>();
    MaybeError err = parse_text("include a/one.conf;", "main.conf", dir.path(), &out);
    ASSERT_FALSE(err) << err->describe();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].name, "two");
}

TEST(Include, RecursionIsStopped) {
    TempDir dir;
    std::string path = dir.write("loop.conf", "include loop.conf;\n");
    std::string err = parse_error("include loop.conf;", dir.path());
    EXPECT_EQ(err.rfind(path + ":1: includes nest deeper than 16 levels", 0), 0u) << err;
}

TEST(Include, MalformedIncludeIsLeftForTheTable) {
    auto st = parse_ok("include a b;");
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].name, "include");
}

TEST(ParseFile, MissingMainFile) {
    std::vector<Statement> out;
    MaybeError err = parse_file("/nonexistent/x.conf", "/nonexistent", &out);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->describe(),
              "/nonexistent/x.conf: open() \"/nonexistent/x.conf\" failed (No such file or "
              "directory)");
}

}  // namespace
}  // namespace pushrelay::conf
