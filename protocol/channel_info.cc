#include "protocol/channel_info.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <string_view>

#include "protocol/header.h"

namespace pushrelay::protocol {

namespace {

struct KnownType {
    std::string_view media_type;
    InfoFormat format;
};

constexpr std::string_view kDefaultType = "text/plain";

constexpr std::array<KnownType, 12> kKnownTypes = {{
    {"text/plain", InfoFormat::Plain},
    {"text/json", InfoFormat::Json},
    {"text/x-json", InfoFormat::Json},
    {"text/yaml", InfoFormat::Yaml},
    {"text/x-yaml", InfoFormat::Yaml},
    {"text/xml", InfoFormat::Xml},
    {"application/plain", InfoFormat::Plain},
    {"application/json", InfoFormat::Json},
    {"application/x-json", InfoFormat::Json},
    {"application/yaml", InfoFormat::Yaml},
    {"application/x-yaml", InfoFormat::Yaml},
    {"application/xml", InfoFormat::Xml},
}};

const KnownType* find_known_type(std::string_view media_type) {
    for (const KnownType& known : kKnownTypes) {
        if (iequals(media_type, known.media_type)) {
            return &known;
        }
    }
    return nullptr;
}

std::string format_plain(const ChannelInfo& info) {
    return "queued messages: " + std::to_string(info.messages) +
           "\r\nlast requested: " + std::to_string(info.requested) +
           " sec. ago (-1=never)\r\nactive subscribers: " + std::to_string(info.subscribers);
}

std::string format_json(const ChannelInfo& info) {
    return "{\"messages\": " + std::to_string(info.messages) +
           ", \"requested\": " + std::to_string(info.requested) +
           ", \"subscribers\": " + std::to_string(info.subscribers) + "}";
}

std::string format_xml(const ChannelInfo& info) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <messages>" +
           std::to_string(info.messages) + "</messages>\r\n  <requested>" +
           std::to_string(info.requested) + "</requested>\r\n  <subscribers>" +
           std::to_string(info.subscribers) + "</subscribers>\r\n</channel>";
}

// The project emits YAML with yaml-cpp. Its emitter writes "\n" line ends and no final newline;
// the module's bytes have CRLF and end with a blank line, so the output is adjusted to match.
std::string format_yaml(const ChannelInfo& info) {
    YAML::Emitter out;
    out << YAML::BeginDoc << YAML::BeginMap;
    out << YAML::Key << "messages" << YAML::Value << info.messages;
    out << YAML::Key << "requested" << YAML::Value << info.requested;
    out << YAML::Key << "subscribers" << YAML::Value << info.subscribers;
    out << YAML::EndMap;
    std::string_view emitted(out.c_str(), out.size());
    std::string body;
    body.reserve(emitted.size() + 16);
    for (char c : emitted) {
        if (c == '\n') {
            body.push_back('\r');
        }
        body.push_back(c);
    }
    body.append("\r\n\r\n");
    return body;
}

}  // namespace

InfoType choose_info_type(const std::string* accept) {
    if (accept != nullptr) {
        for (const MediaRange& range : media_ranges(*accept)) {
            if (const KnownType* known = find_known_type(range.type)) {
                return {known->format, std::string(known->media_type)};
            }
        }
    }
    return {InfoFormat::Plain, std::string(kDefaultType)};
}

std::string format_channel_info(const ChannelInfo& info, InfoFormat format) {
    switch (format) {
        case InfoFormat::Json:
            return format_json(info);
        case InfoFormat::Yaml:
            return format_yaml(info);
        case InfoFormat::Xml:
            return format_xml(info);
        case InfoFormat::Plain:
            break;
    }
    return format_plain(info);
}

}  // namespace pushrelay::protocol
