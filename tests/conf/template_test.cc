#include "conf/template.h"

#include <gtest/gtest.h>

#include <map>

namespace pushrelay::conf {
namespace {

bool nothing_set(std::string_view) {
    return false;
}

Template compile_ok(std::string_view text, bool (*is_set)(std::string_view) = nothing_set) {
    Parsed<Template> t = Template::compile(text, is_set);
    EXPECT_TRUE(t.value) << t.error;
    return t.value.value_or(Template());
}

std::string compile_error(std::string_view text) {
    Parsed<Template> t = Template::compile(text, nothing_set);
    return t.value ? "compiled" : t.error;
}

class TemplateExpand : public ::testing::Test {
  protected:
    TemplateExpand() {
        vars.path = "/sub/news";
        vars.query = "id=42&Other=x%20y&flag&id=43";
        vars.header = [this](std::string_view name) -> std::optional<std::string_view> {
            auto it = headers.find(std::string(name));
            return it == headers.end() ? std::nullopt : std::optional<std::string_view>(it->second);
        };
        vars.captures = captures;
    }

    std::string expand(std::string_view text) { return compile_ok(text).expand(vars); }

    std::map<std::string, std::string> headers{{"x-channel-id", "from-header"}};
    std::vector<std::string> captures{"one", "two"};
    RequestVars vars;
};

TEST_F(TemplateExpand, LiteralText) {
    EXPECT_EQ(expand("plain text"), "plain text");
}

TEST_F(TemplateExpand, QueryArgumentFirstMatchCaseInsensitiveRaw) {
    EXPECT_EQ(expand("$arg_id"), "42");
    EXPECT_EQ(expand("$arg_other"), "x%20y");
    EXPECT_EQ(expand("[$arg_flag]"), "[]");
    EXPECT_EQ(expand("[$arg_missing]"), "[]");
}

TEST_F(TemplateExpand, Header) {
    EXPECT_EQ(expand("$http_x_channel_id"), "from-header");
    EXPECT_EQ(expand("$http_X_Channel_Id"), "from-header");
    EXPECT_EQ(expand("[$http_absent]"), "[]");
}

TEST_F(TemplateExpand, UriAndArgs) {
    EXPECT_EQ(expand("$uri"), "/sub/news");
    EXPECT_EQ(expand("$args"), "id=42&Other=x%20y&flag&id=43");
}

TEST_F(TemplateExpand, Captures) {
    EXPECT_EQ(expand("$1-$2-[$3]"), "one-two-[]");
    EXPECT_EQ(expand("$12"), "one2");  // one digit per capture, as nginx
}

TEST_F(TemplateExpand, BracesAndConcatenation) {
    EXPECT_EQ(expand("chan_${arg_id}_x/${1}"), "chan_42_x/one");
    EXPECT_EQ(expand("$uri?$arg_id"), "/sub/news?42");
}

TEST_F(TemplateExpand, SetVariablesAndPushIdAlias) {
    auto is_set = [](std::string_view name) { return name == "push_channel_id"; };
    vars.variable = [](std::string_view name) -> std::optional<std::string_view> {
        return name == "push_channel_id" ? std::optional<std::string_view>("chan") : std::nullopt;
    };
    EXPECT_EQ(compile_ok("$push_channel_id/$push_id", is_set).expand(vars), "chan/chan");
}

TEST_F(TemplateExpand, NoHeaderFunctionMeansAbsent) {
    vars.header = nullptr;
    EXPECT_EQ(expand("[$http_x_channel_id]"), "[]");
}

TEST(TemplateCompile, UnknownVariable) {
    EXPECT_EQ(compile_error("x$nope"), "unknown \"nope\" variable");
    EXPECT_EQ(compile_error("$0"), "unknown \"0\" variable");
    EXPECT_EQ(compile_error("$arg_"), "unknown \"arg_\" variable");
}

TEST(TemplateCompile, MalformedReferences) {
    EXPECT_NE(compile_error("a$").find("invalid variable name"), std::string::npos);
    EXPECT_NE(compile_error("${arg_id").find("closing bracket"), std::string::npos);
    EXPECT_NE(compile_error("${a-b}").find("invalid variable name"), std::string::npos);
}

TEST(TemplateCompile, KeepsText) {
    EXPECT_EQ(compile_ok("a$uri").text(), "a$uri");
}

TEST(Variables, CanonicalAndBuiltin) {
    EXPECT_EQ(canonical_variable("push_id"), "push_channel_id");
    EXPECT_EQ(canonical_variable("other"), "other");
    EXPECT_TRUE(is_builtin_variable("uri"));
    EXPECT_TRUE(is_builtin_variable("arg_x"));
    EXPECT_TRUE(is_builtin_variable("http_host"));
    EXPECT_TRUE(is_builtin_variable("3"));
    EXPECT_FALSE(is_builtin_variable("push_channel_id"));
}

TEST(SetVariables, EachSetSeesTheEarlierOnes) {
    auto defined = [](std::string_view name) { return name == "a" || name == "push_channel_id"; };
    std::vector<SetDirective> sets{
        {"a", compile_ok("$arg_id")},
        {"push_channel_id", *Template::compile("grp-$a", defined).value},
        {"a", compile_ok("later")},
    };
    RequestVars request;
    request.query = "id=7";
    SetVariables values(sets, request);
    EXPECT_EQ(values.find("push_channel_id"), "grp-7");
    EXPECT_EQ(values.find("push_id"), "grp-7");
    EXPECT_EQ(values.find("a"), "later");
    EXPECT_FALSE(values.find("b"));
}

}  // namespace
}  // namespace pushrelay::conf
