// Tests for protocol/channel_info.h; the exact bytes are doc/protocol-formats.md §2.
#include "protocol/channel_info.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::protocol {
namespace {

constexpr ChannelInfo kInfo{.messages = 3, .requested = -1, .subscribers = 12};

TEST(ChannelInfoFormat, Plain) {
    EXPECT_EQ(format_channel_info(kInfo, InfoFormat::Plain),
              "queued messages: 3\r\nlast requested: -1 sec. ago (-1=never)\r\n"
              "active subscribers: 12");
}

TEST(ChannelInfoFormat, Json) {
    EXPECT_EQ(format_channel_info(kInfo, InfoFormat::Json),
              "{\"messages\": 3, \"requested\": -1, \"subscribers\": 12}");
}

TEST(ChannelInfoFormat, Yaml) {
    EXPECT_EQ(format_channel_info(kInfo, InfoFormat::Yaml),
              "---\r\nmessages: 3\r\nrequested: -1\r\nsubscribers: 12\r\n\r\n");
}

TEST(ChannelInfoFormat, Xml) {
    EXPECT_EQ(format_channel_info(kInfo, InfoFormat::Xml),
              "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n"
              "  <messages>3</messages>\r\n  <requested>-1</requested>\r\n"
              "  <subscribers>12</subscribers>\r\n</channel>");
}

TEST(ChannelInfoFormat, LargestCounts) {
    ChannelInfo big{.messages = UINT64_MAX, .requested = INT64_MAX, .subscribers = 0};
    EXPECT_EQ(format_channel_info(big, InfoFormat::Yaml),
              "---\r\nmessages: 18446744073709551615\r\nrequested: 9223372036854775807\r\n"
              "subscribers: 0\r\n\r\n");
}

InfoType choose(const std::string& accept) {
    return choose_info_type(&accept);
}

TEST(ChooseInfoType, DefaultIsTextPlain) {
    InfoType none = choose_info_type(nullptr);
    EXPECT_EQ(none.format, InfoFormat::Plain);
    EXPECT_EQ(none.content_type, "text/plain");
    EXPECT_EQ(choose("*/*").content_type, "text/plain");
    EXPECT_EQ(choose("text/html, image/png").content_type, "text/plain");
    EXPECT_EQ(choose("").format, InfoFormat::Plain);
    EXPECT_EQ(choose("application/jsonp").format, InfoFormat::Plain);
}

TEST(ChooseInfoType, EachTypeAndSubtype) {
    struct Case {
        const char* accept;
        InfoFormat format;
    };
    for (Case c :
         {Case{"text/plain", InfoFormat::Plain}, Case{"application/plain", InfoFormat::Plain},
          Case{"text/json", InfoFormat::Json}, Case{"application/json", InfoFormat::Json},
          Case{"text/x-json", InfoFormat::Json}, Case{"application/x-json", InfoFormat::Json},
          Case{"text/yaml", InfoFormat::Yaml}, Case{"application/yaml", InfoFormat::Yaml},
          Case{"text/x-yaml", InfoFormat::Yaml}, Case{"application/x-yaml", InfoFormat::Yaml},
          Case{"text/xml", InfoFormat::Xml}, Case{"application/xml", InfoFormat::Xml}}) {
        InfoType type = choose(c.accept);
        EXPECT_EQ(type.format, c.format) << c.accept;
        EXPECT_EQ(type.content_type, c.accept);
    }
}

TEST(ChooseInfoType, FirstMatchInHeaderOrderIgnoringQValues) {
    InfoType type = choose("text/html;q=0.9, application/x-yaml;q=0.1, application/json");
    EXPECT_EQ(type.format, InfoFormat::Yaml);
    EXPECT_EQ(type.content_type, "application/x-yaml");
    EXPECT_EQ(choose("application/xml,text/json").format, InfoFormat::Xml);
}

TEST(ChooseInfoType, CaseInsensitiveEchoesLowerCase) {
    InfoType type = choose("  Application/JSON ; charset=utf-8");
    EXPECT_EQ(type.format, InfoFormat::Json);
    EXPECT_EQ(type.content_type, "application/json");
}

}  // namespace
}  // namespace pushrelay::protocol
