#include "redis/value.h"

namespace pushrelay::redis {

Value to_value(const redisReply& reply) {
    Value value;
    switch (reply.type) {
        case REDIS_REPLY_STRING:
            value.type = Value::Type::String;
            value.string.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_STATUS:
            value.type = Value::Type::Status;
            value.string.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_ERROR:
            value.type = Value::Type::Error;
            value.string.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_INTEGER:
            value.type = Value::Type::Integer;
            value.integer = reply.integer;
            break;
        case REDIS_REPLY_ARRAY:
            value.type = Value::Type::Array;
            value.elements.reserve(reply.elements);
            for (size_t i = 0; i < reply.elements; ++i)
                value.elements.push_back(to_value(*reply.element[i]));
            break;
        default:
            break;
    }
    return value;
}

}  // namespace pushrelay::redis
