// Runs redis/scripts.h calls on a synchronous hiredis context, for the tests only (the server's
// connections are asynchronous, on the process's loop): EVALSHA, and on NOSCRIPT, SCRIPT LOAD
// and the same EVALSHA once more, as shared/scale-out.md "Scripts" asks of every connection.
// Also a second context subscribed to a channel's frames.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "redis/scripts.h"

namespace pushrelay::redis::testing {

struct ReplyFree {
    void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
    void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;

// A loopback connection whose reads give up after 5 s (a test never waits longer).
inline ContextPtr connect_to(int port) {
    const timeval timeout{5, 0};
    ContextPtr context(redisConnectWithTimeout("127.0.0.1", port, timeout));
    if (!context || context->err)
        throw std::runtime_error("redisConnect failed: " +
                                 std::string(context ? context->errstr : "out of memory"));
    redisSetTimeout(context.get(), timeout);
    return context;
}

// Sends one command given as strings (binary-safe); throws when the connection fails.
inline ReplyPtr command(redisContext* context, const std::vector<std::string>& argv) {
    std::vector<const char*> parts;
    std::vector<size_t> sizes;
    for (const std::string& arg : argv) {
        parts.push_back(arg.data());
        sizes.push_back(arg.size());
    }
    ReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(argv.size()), parts.data(), sizes.data())));
    if (!reply)
        throw std::runtime_error("redisCommandArgv failed: " + std::string(context->errstr));
    return reply;
}

inline bool is_noscript(const redisReply& reply) {
    return reply.type == REDIS_REPLY_ERROR &&
           std::string(reply.str, reply.len).rfind("NOSCRIPT", 0) == 0;
}

// EVALSHA; NOSCRIPT → SCRIPT LOAD (which must return our SHA1) → EVALSHA once more.
inline ReplyPtr run(redisContext* context, const ScriptCall& call) {
    ReplyPtr reply = command(context, call.evalsha_argv());
    if (!is_noscript(*reply))
        return reply;
    ReplyPtr loaded = command(context, {"SCRIPT", "LOAD", std::string(script_source(call.script))});
    if (loaded->type != REDIS_REPLY_STRING ||
        std::string(loaded->str, loaded->len) != script_sha1(call.script))
        throw std::runtime_error("SCRIPT LOAD of " + std::string(script_name(call.script)) +
                                 " failed or gave another SHA1: " +
                                 std::string(loaded->str ? loaded->str : "", loaded->len));
    return command(context, call.evalsha_argv());
}

// Runs `call` and parses its reply with `parse`; a ReplyError fails the test by throwing.
template <typename Parse>
auto run_parsed(redisContext* context, const ScriptCall& call, Parse parse) {
    ReplyPtr reply = run(context, call);
    auto parsed = parse(to_value(*reply));
    if (parsed.index() != 0)
        throw std::runtime_error(std::get<1>(parsed));
    return std::get<0>(std::move(parsed));
}

// A second connection SUBSCRIBEd to one pubsub channel; next() is the payload of the next
// message published there, or throws after the context's 5 s timeout.
class Subscription {
  public:
    Subscription(int port, const std::string& channel) : context_(connect_to(port)) {
        ReplyPtr confirmed = command(context_.get(), {"SUBSCRIBE", channel});
        if (confirmed->type != REDIS_REPLY_ARRAY)
            throw std::runtime_error("SUBSCRIBE " + channel + " was not confirmed");
    }

    std::string next() {
        void* raw = nullptr;
        if (redisGetReply(context_.get(), &raw) != REDIS_OK)
            throw std::runtime_error("no frame within 5 s: " + std::string(context_->errstr));
        ReplyPtr reply(static_cast<redisReply*>(raw));
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
            throw std::runtime_error("not a pubsub message");
        const redisReply* payload = reply->element[2];
        return std::string(payload->str, payload->len);
    }

  private:
    ContextPtr context_;
};

}  // namespace pushrelay::redis::testing
