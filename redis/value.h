// redis/value.h — a Redis (RESP2) reply as an owned value, copied out of hiredis's reply before
// hiredis frees it: what the connections hand their callers and what the script reply parsers
// (redis/scripts.h) read. Pure.
#pragma once

#include <hiredis/hiredis.h>

#include <string>
#include <vector>

namespace pushrelay::redis {

struct Value {
    enum class Type : unsigned char { Nil, Integer, String, Status, Error, Array };
    Type type = Type::Nil;
    long long integer = 0;        // Integer
    std::string string;           // String, Status, Error: the bytes, binary-safe
    std::vector<Value> elements;  // Array
};

// A deep copy of `reply` (hiredis's nil and any unknown type become Nil).
Value to_value(const redisReply& reply);

}  // namespace pushrelay::redis
