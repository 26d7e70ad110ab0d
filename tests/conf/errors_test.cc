// Every class of conf error: where it is reported and what it says.
#include <gtest/gtest.h>

#include "conf/conf.h"
#include "tests/conf/conf_test_util.h"

namespace pushrelay::conf {
namespace {

using testing::kConfName;
using testing::load_error;
using testing::one_location;
using testing::TempDir;

// "test.conf:LINE: MESSAGE" for the conf's own file.
std::string at(int line, const std::string& message) {
    return std::string(kConfName) + ":" + std::to_string(line) + ": " + message;
}

// The location body starts on line 6 of one_location's conf.
constexpr int kBodyLine = 6;

TEST(ConfErrors, DescribeWithoutLine) {
    EXPECT_EQ((Error{"a.conf", 0, "gone"}).describe(), "a.conf: gone");
    EXPECT_EQ((Error{"a.conf", 3, "bad"}).describe(), "a.conf:3: bad");
}

TEST(ConfErrors, UnknownDirective) {
    EXPECT_EQ(load_error("daemon off;\nfoo bar;\n"), at(2, "unknown directive \"foo\""));
    EXPECT_EQ(load_error(one_location("push_accomodate_strangers on;")),
              at(kBodyLine, "unknown directive \"push_accomodate_strangers\""));
}

TEST(ConfErrors, WrongContext) {
    EXPECT_EQ(load_error("listen 80;"), at(1, "\"listen\" directive is not allowed here"));
    EXPECT_EQ(load_error(one_location("push_max_reserved_memory 1m;")),
              at(kBodyLine, "\"push_max_reserved_memory\" directive is not allowed here"));
    EXPECT_EQ(load_error("http { push_publisher; }"),
              at(1, "\"push_publisher\" directive is not allowed here"));
    EXPECT_EQ(load_error("http { worker_connections 10; }"),
              at(1, "\"worker_connections\" directive is not allowed here"));
    EXPECT_EQ(load_error(one_location("location /y { }")),
              at(kBodyLine, "\"location\" directive is not allowed here"));
    EXPECT_EQ(load_error(one_location("log_format x y;")),
              at(kBodyLine, "\"log_format\" directive is not allowed here"));
}

TEST(ConfErrors, WrongArity) {
    EXPECT_EQ(load_error(one_location("push_message_timeout;")),
              at(kBodyLine, "invalid number of arguments in \"push_message_timeout\" directive"));
    EXPECT_EQ(load_error(one_location("push_message_timeout 1 2;")),
              at(kBodyLine, "invalid number of arguments in \"push_message_timeout\" directive"));
    EXPECT_EQ(load_error(one_location("push_publisher http websocket http;")),
              at(kBodyLine, "invalid number of arguments in \"push_publisher\" directive"));
    EXPECT_EQ(load_error("include a b;"),
              at(1, "invalid number of arguments in \"include\" directive"));
    EXPECT_EQ(load_error(one_location("set $a;")),
              at(kBodyLine, "invalid number of arguments in \"set\" directive"));
}

TEST(ConfErrors, BlockMismatch) {
    EXPECT_EQ(load_error("http;"), at(1, "directive \"http\" has no opening \"{\""));
    EXPECT_EQ(load_error("daemon on { }"),
              at(1, "\"daemon\" directive is not terminated by \";\""));
}

TEST(ConfErrors, BadSize) {
    EXPECT_EQ(load_error(one_location("client_max_body_size 12x;")),
              at(kBodyLine,
                 "invalid size \"12x\" in \"client_max_body_size\" directive (expected bytes with "
                 "an optional k, m or g suffix, as in 1m)"));
}

TEST(ConfErrors, BadTime) {
    std::string err = load_error(one_location("push_message_timeout 5x;"));
    EXPECT_EQ(
        err.rfind(at(kBodyLine, "invalid time \"5x\" in \"push_message_timeout\" directive"), 0),
        0u)
        << err;
    EXPECT_NE(load_error(one_location("keepalive_timeout -1;")).find("invalid time \"-1\""),
              std::string::npos);
}

TEST(ConfErrors, BadNumber) {
    std::string err = load_error(one_location("keepalive_requests many;"));
    EXPECT_EQ(
        err.rfind(at(kBodyLine, "invalid number \"many\" in \"keepalive_requests\" directive"), 0),
        0u)
        << err;
    EXPECT_NE(load_error(one_location("push_max_channel_subscribers 4294967296;"))
                  .find("invalid number \"4294967296\""),
              std::string::npos);
}

TEST(ConfErrors, NumberBounds) {
    EXPECT_EQ(load_error("worker_processes 65;"),
              at(1,
                 "invalid number \"65\" in \"worker_processes\" directive, it must be "
                 "\"auto\" or 1 to 64"));
    EXPECT_EQ(
        load_error("worker_processes 0;"),
        at(1, "invalid number \"0\" in \"worker_processes\" directive, it must be at least 1"));
    EXPECT_EQ(load_error("events {\n worker_connections 15; }"),
              at(2,
                 "invalid number \"15\" in \"worker_connections\" directive, it must be at "
                 "least 16"));
    EXPECT_EQ(load_error("http {\npush_max_reserved_memory 63k; }"),
              at(2,
                 "invalid size \"63k\" in \"push_max_reserved_memory\" directive: the shared "
                 "segment needs at least 64k"));
    EXPECT_NE(load_error(one_location("push_max_channel_id_length 0;")).find("at least 1"),
              std::string::npos);
}

TEST(ConfErrors, BadFlag) {
    EXPECT_EQ(load_error(one_location("push_store_messages yes;")),
              at(kBodyLine,
                 "invalid value \"yes\" in \"push_store_messages\" directive, it must "
                 "be \"on\" or \"off\""));
}

TEST(ConfErrors, BadEnum) {
    EXPECT_EQ(load_error(one_location("push_subscriber streaming;")),
              at(kBodyLine,
                 "invalid transport \"streaming\" in \"push_subscriber\" directive, it "
                 "must be \"long-poll\", \"interval-poll\", \"eventsource\", \"websocket\", "
                 "\"chunked\" or \"multipart-mixed\" (or one of Nchan's spellings of them)"));
    EXPECT_EQ(load_error(one_location("push_publisher now;")),
              at(kBodyLine,
                 "invalid value \"now\" in \"push_publisher\" directive, it must be \"http\" "
                 "or \"websocket\""));
    EXPECT_EQ(load_error(one_location("push_subscriber_first_message 33;")),
              at(kBodyLine,
                 "invalid value \"33\" in \"push_subscriber_first_message\" directive, "
                 "it must be \"oldest\", \"newest\" or a number from -32 to 32"));
    EXPECT_EQ(load_error(one_location("push_subscriber_concurrency all;")),
              at(kBodyLine,
                 "invalid value \"all\" in \"push_subscriber_concurrency\" directive, "
                 "it must be \"broadcast\", \"first\" or \"last\""));
    EXPECT_NE(load_error("error_log stderr loud;").find("invalid value \"loud\" in \"error_log\""),
              std::string::npos);
}

TEST(ConfErrors, HeaderValueWithControlCharacter) {
    EXPECT_NE(load_error(one_location(R"(push_allow_origin "a\nb";)"))
                  .find("control characters are not allowed"),
              std::string::npos);
}

TEST(ConfErrors, MinGreaterThanMaxInOneLocation) {
    EXPECT_EQ(load_error(one_location("push_max_message_buffer_length 2;\n"
                                      "push_min_message_buffer_length 5;")),
              at(kBodyLine + 1,
                 "push_min_message_buffer_length (5) is greater than "
                 "push_max_message_buffer_length (2)"));
}

TEST(ConfErrors, MinGreaterThanMaxAfterInheritancePointsAtTheLaterSetting) {
    // http sets max 5 on line 2; the location's min 8 on line 6 is what breaks it.
    EXPECT_EQ(load_error(one_location("push_min_message_buffer_length 8;",
                                      "push_max_message_buffer_length 5;")),
              at(kBodyLine,
                 "push_min_message_buffer_length (8) is greater than "
                 "push_max_message_buffer_length (5)"));
    // The default max is 10: a server-level min above it breaks the server's fallback.
    EXPECT_EQ(load_error("http {\nserver {\nlisten 80;\npush_min_message_buffer_length 11;\n}}"),
              at(4,
                 "push_min_message_buffer_length (11) is greater than "
                 "push_max_message_buffer_length (10)"));
}

TEST(ConfErrors, DuplicateListen) {
    EXPECT_EQ(load_error("http {\nserver { listen 127.0.0.1:8080; }\n"
                         "server { listen 127.0.0.1:8080; }\n}"),
              at(3, "duplicate listen 127.0.0.1:8080 (first at " + std::string(kConfName) + ":2)"));
    EXPECT_NE(load_error("http { server { listen 8080; listen *:8080; } }")
                  .find("duplicate listen 0.0.0.0:8080"),
              std::string::npos);
    EXPECT_NE(load_error("http { server { listen [::1]:80; listen [0::1]:80; } }")
                  .find("duplicate listen [::1]:80"),
              std::string::npos);
}

TEST(ConfErrors, BadListen) {
    for (const char* bad : {"0", "65536", "127.0.0.1:0", "127.0.0.1", "example.com:80", "[::1]80",
                            "[::1]:x", "1.2.3.4.5:80", "[127.0.0.1]:80", ":80"}) {
        std::string err = load_error("http {\nserver {\nlisten " + std::string(bad) + "; } }");
        EXPECT_EQ(err.rfind(at(3, "invalid "), 0), 0u) << bad << ": " << err;
        EXPECT_NE(err.find("in \"listen\" directive"), std::string::npos) << err;
    }
    EXPECT_NE(load_error("http { server { listen 80 default_server; } }")
                  .find("invalid parameter \"default_server\""),
              std::string::npos);
    EXPECT_NE(load_error("http { server { listen 80 backlog=0; } }").find("invalid backlog"),
              std::string::npos);
}

TEST(ConfErrors, BadKeepalive) {
    const std::string kForm =
        ": expected on, off or [idle]:[interval]:[count] with at least one field, as in 30m::10";
    const std::string kTime =
        ": idle and interval must be whole seconds from 1s to 32767s, as in 30s or 10m";
    const std::string kCount = ": count must be 1 to 127";
    struct Case {
        const char* value;
        const std::string& hint;
    };
    for (const Case& c : {
             Case{"", kForm},
             Case{"yes", kForm},
             Case{"::", kForm},
             Case{"30", kForm},
             Case{"30:10", kForm},
             Case{"0::", kTime},
             Case{"x::", kTime},
             Case{":-1:", kTime},
             Case{"500ms::", kTime},
             Case{"1500ms::", kTime},
             Case{"32768::", kTime},
             Case{":10h:", kTime},
             Case{"::0", kCount},
             Case{"::128", kCount},
             Case{"::x", kCount},
             Case{"1:2:3:4", kCount},
             Case{"::1s", kCount},
         }) {
        std::string option = "so_keepalive=" + std::string(c.value);
        EXPECT_EQ(
            load_error("http {\nserver {\nlisten 80 " + option + "; } }"),
            at(3, "invalid so_keepalive \"" + option + "\" in \"listen\" directive" + c.hint));
    }
}

TEST(ConfErrors, ListenParameterTwice) {
    EXPECT_EQ(load_error("http {\nserver {\nlisten 80 so_keepalive=on so_keepalive=off; } }"),
              at(3, "duplicate \"so_keepalive\" parameter in \"listen\" directive"));
    EXPECT_EQ(load_error("http {\nserver {\nlisten 80 backlog=1 reuseport backlog=2; } }"),
              at(3, "duplicate \"backlog\" parameter in \"listen\" directive"));
    EXPECT_EQ(load_error("http {\nserver {\nlisten 80 reuseport reuseport; } }"),
              at(3, "duplicate \"reuseport\" parameter in \"listen\" directive"));
}

TEST(ConfErrors, ServerWithoutListen) {
    EXPECT_EQ(load_error("http {\n  server {\n    location / { }\n  }\n}"),
              at(2, "server has no \"listen\" directive"));
}

TEST(ConfErrors, DuplicateDirective) {
    EXPECT_EQ(load_error(one_location("push_message_timeout 1h;\npush_message_timeout 2h;")),
              at(kBodyLine + 1, "\"push_message_timeout\" directive is duplicate"));
    EXPECT_EQ(load_error("http { }\nhttp { }"), at(2, "\"http\" directive is duplicate"));
    // An alias is the same directive.
    EXPECT_EQ(load_error(one_location("push_store_messages on;\npush_queue_messages off;")),
              at(kBodyLine + 1, "\"push_queue_messages\" directive is duplicate"));
}

TEST(ConfErrors, PublisherAndSubscriberInOneBlock) {
    EXPECT_EQ(load_error(one_location("push_publisher;\npush_listener;")),
              at(kBodyLine + 1,
                 "\"push_listener\" directive cannot be used together with "
                 "\"push_publisher\" (" +
                     std::string(kConfName) + ":6) in the same block"));
}

TEST(ConfErrors, MissingSemicolon) {
    EXPECT_EQ(load_error(one_location("push_publisher")), at(kBodyLine + 1, "unexpected \"}\""));
    EXPECT_EQ(load_error("daemon off"), at(1, "unexpected end of file, expecting \";\" or \"}\""));
}

TEST(ConfErrors, MissingClosingBrace) {
    EXPECT_EQ(load_error("http {\n  server {\n"), at(3, "unexpected end of file, expecting \"}\""));
}

TEST(ConfErrors, UnbalancedClosingBrace) {
    EXPECT_EQ(load_error("http { }\n}\n"), at(2, "unexpected \"}\""));
}

TEST(ConfErrors, UnterminatedQuotedString) {
    std::string err = load_error("daemon off;\npid \"/run/x.pid;\n");
    EXPECT_EQ(err.rfind(at(2, "unterminated quoted string"), 0), 0u) << err;
}

TEST(ConfErrors, BadRegex) {
    std::string err = load_error("http {\nserver {\nlisten 80;\nlocation ~ ^/(a { }\n}\n}");
    EXPECT_EQ(
        err.rfind(at(4, "pcre2_compile() failed: missing closing parenthesis in \"^/(a\""), 0), 0u)
        << err;
}

TEST(ConfErrors, BadLocation) {
    EXPECT_NE(load_error("http { server { listen 80; location != /x { } } }")
                  .find("invalid location modifier \"!=\""),
              std::string::npos);
    EXPECT_NE(load_error("http { server { listen 80; location @named { } } }")
                  .find("named locations are not supported"),
              std::string::npos);
    EXPECT_EQ(load_error("http {\nserver {\nlisten 80;\nlocation /x { }\nlocation /x { }\n}}"),
              at(5, "duplicate location \"/x\" (first at " + std::string(kConfName) + ":4)"));
}

TEST(ConfErrors, IncludeNotFound) {
    TempDir dir;
    std::string main = dir.write("main.conf", "daemon off;\ninclude nope.conf;\n");
    LoadResult result = load_file(main, dir.path());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error.describe(), main + ":2: open() \"" + dir.path() +
                                           "/nope.conf\" failed (No such file or directory)");
}

TEST(ConfErrors, ErrorInIncludedFileNamesThatFile) {
    TempDir dir;
    std::string inner = dir.write("inner.conf", "\n\npush_message_timeout forever;\n");
    std::string main = dir.write(
        "main.conf", "http {\nserver {\nlisten 80;\nlocation / { include inner.conf; }\n}\n}\n");
    LoadResult result = load_file(main, dir.path());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error.file, inner);
    EXPECT_EQ(result.error.line, 3);
    EXPECT_NE(result.error.message.find("invalid time \"forever\""), std::string::npos);
}

TEST(ConfErrors, UnknownVariable) {
    EXPECT_EQ(load_error(one_location("set $push_channel_id $nope;")),
              at(kBodyLine, "unknown \"nope\" variable in \"set\" directive"));
    // A variable is known only after the set that gives it.
    EXPECT_EQ(load_error(one_location("set $a $b;\nset $b 1;")),
              at(kBodyLine, "unknown \"b\" variable in \"set\" directive"));
}

TEST(ConfErrors, BadSetTarget) {
    EXPECT_NE(load_error(one_location("set push_id $arg_id;")).find("invalid variable name"),
              std::string::npos);
    EXPECT_EQ(load_error(one_location("set $uri x;")),
              at(kBodyLine, "the variable \"$uri\" comes from the request and cannot be set"));
}

TEST(ConfErrors, UnknownLogFormat) {
    EXPECT_EQ(load_error(one_location("access_log logs/a.log fancy;")),
              at(kBodyLine,
                 "unknown log format \"fancy\" (define it with log_format before "
                 "this line)"));
}

TEST(ConfErrors, CombinedLogFormatCannotBeRedefined) {
    EXPECT_EQ(load_error("http {\nlog_format combined '$status';\n}"),
              at(2, "duplicate log_format name \"combined\""));
}

TEST(ConfErrors, BadCidr) {
    EXPECT_EQ(load_error(one_location("allow 10.0.0.0/33;")),
              at(kBodyLine,
                 "invalid address \"10.0.0.0/33\" in \"allow\" directive (expected "
                 "all, an IPv4 or IPv6 address, or a CIDR such as 10.0.0.0/8 or "
                 "::1/128)"));
    EXPECT_NE(load_error(one_location("deny somewhere;")).find("invalid address \"somewhere\""),
              std::string::npos);
}

TEST(ConfErrors, AccessLogOffTakesNoFormat) {
    EXPECT_EQ(load_error(one_location("access_log off combined;")),
              at(kBodyLine, "\"access_log off\" takes no format"));
}

}  // namespace
}  // namespace pushrelay::conf
