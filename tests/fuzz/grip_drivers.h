// tests/fuzz/grip_drivers.h — the code the grip/ fuzz targets run, shared with the unit test
// that replays their corpora (tests/grip/fuzz_corpus_test.cc).
//
// Each driver takes one fuzz input, runs it through grip/ as the proxy or the publish location
// would, and checks what grip/'s headers promise. It returns "" when everything held, else one
// line naming the broken promise (the fuzz target aborts on it, the unit test fails on it).
// Header-only so the clang fuzz build and the g++ unit tests compile the same code.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "grip/headers.h"
#include "grip/instruction.h"
#include "grip/item.h"

namespace pushrelay::fuzz {

// Small limits, so that the fuzzer reaches them.
inline constexpr grip::Limits kGripLimits{4, 64};

inline bool grip_wire_safe(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// An origin response's GRIP instructions. Input layout: byte 0 bit 0 set: the rest is an
// application/grip-instruct body (bit 1 set: status 201 instead of 200); clear: the rest is
// header lines "Name: value" separated by '\n'. A next link is then resolved against
// "/a/b?q" with origin "origin:80", and the hold response headers are computed.
inline std::string run_grip_instruction(std::string_view input) {
    if (input.empty())
        return {};
    const uint8_t mode = static_cast<uint8_t>(input[0]);
    std::string_view rest = input.substr(1);
    std::vector<protocol::Header> headers;
    std::string_view body;
    int status = 200;
    if (mode & 1) {
        headers.push_back({"Content-Type", "application/grip-instruct"});
        body = rest;
        status = (mode & 2) ? 201 : 200;
    } else {
        while (!rest.empty()) {
            const size_t nl = rest.find('\n');
            std::string_view line = rest.substr(0, nl);
            const size_t colon = line.find(':');
            if (colon != std::string_view::npos) {
                headers.push_back({std::string(line.substr(0, colon)),
                                   std::string(protocol::trim_ows(line.substr(colon + 1)))});
            }
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        }
    }
    if (grip::is_instruct_body(headers) && !grip::is_grip_response(headers))
        return "an instruct body that is not a GRIP response";
    auto parsed = grip::parse_instruction(status, headers, body, kGripLimits);
    if (auto* error = std::get_if<grip::InstructionError>(&parsed))
        return error->empty() ? "an error without a reason" : "";
    const grip::Instruction& in = std::get<grip::Instruction>(parsed);
    if (in.mode != grip::HoldMode::None && in.channels.empty())
        return "a hold without channels";
    if (in.channels.size() > kGripLimits.max_channels)
        return "more channels than max_channels";
    std::set<std::string> seen;
    for (const grip::HoldChannel& c : in.channels) {
        if (c.name.empty() || c.name.size() > kGripLimits.max_channel_id_length)
            return "a channel name empty or over the limit";
        if (!seen.insert(c.name).second)
            return "a channel named twice";
    }
    if (in.keep_alive && (in.keep_alive->data.empty() || in.keep_alive->timeout < 1))
        return "a keep-alive with empty data or a timeout under 1 s";
    if (in.timeout && *in.timeout < 0)
        return "a negative timeout";
    if (in.status && (in.status->code < 0 || in.status->code > 999))
        return "a Grip-Status code outside 0..999";
    if (in.response) {
        if (in.response->code < 0 || in.response->code > 999 ||
            !grip_wire_safe(in.response->reason))
            return "an instruct response with a bad code or reason";
        for (const protocol::Header& h : in.response->headers) {
            if (!protocol::is_token(h.name) || !grip_wire_safe(h.value))
                return "an instruct response header unfit for the wire";
        }
    }
    if (in.next) {
        auto target = grip::resolve_next_link(in.next->uri, "/a/b?q", "origin:80");
        if (auto* t = std::get_if<grip::LinkTarget>(&target)) {
            if (t->target.empty() || t->target.front() != '/')
                return "a next link target not in origin form";
            for (char c : t->target) {
                if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
                    return "a next link target with a space or control character";
            }
        }
    }
    for (const protocol::Header& h : grip::hold_response_headers(headers, in.expose)) {
        if (protocol::iequals(h.name.substr(0, 5), "Grip-") ||
            protocol::iequals(h.name, "Content-Length"))
            return "a Grip-* or Content-Length header left in a hold response";
    }
    return {};
}

// A publish body. The input is the body; it is also given to unpack_item() as if it were
// packed bytes from the shared segment.
inline std::string run_grip_publish(std::string_view input) {
    if (std::optional<grip::Item> item = grip::unpack_item(input)) {
        if (grip::pack_item(*item) != input)
            return "unpacked bytes that do not pack back to themselves";
    }
    auto parsed = grip::parse_publish_body(input, kGripLimits.max_channel_id_length);
    if (auto* error = std::get_if<grip::PublishError>(&parsed)) {
        if (error->empty() || error->back() != '\n')
            return "an error body without its final newline";
        if (!error->starts_with("Body is not valid JSON.") && !error->starts_with("Invalid format"))
            return "an error body with an unknown prefix";
        return {};
    }
    for (const grip::Item& item : std::get<std::vector<grip::Item>>(parsed)) {
        if (item.channel.empty() || item.channel.size() > kGripLimits.max_channel_id_length)
            return "an item channel empty or over the limit";
        if (const auto& r = item.http_response) {
            if (r->code < 0 || r->code > 999 || !grip_wire_safe(r->reason))
                return "a published response with a bad code or reason";
            for (const protocol::Header& h : r->headers) {
                if (!protocol::is_token(h.name) || !grip_wire_safe(h.value))
                    return "a published header unfit for the wire";
            }
        }
        std::optional<grip::Item> back = grip::unpack_item(grip::pack_item(item));
        if (!back || !(*back == item))
            return "an item that does not survive pack and unpack";
    }
    return {};
}

// The body of both libFuzzer entry points: runs `driver` and aborts on a broken promise.
inline int grip_fuzz_one(const char* target, std::string (*driver)(std::string_view),
                         const uint8_t* data, size_t size) {
    std::string broken = driver(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!broken.empty()) {
        std::fprintf(stderr, "%s: %s\n", target, broken.c_str());
        std::abort();
    }
    return 0;
}

}  // namespace pushrelay::fuzz
