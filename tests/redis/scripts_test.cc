// redis/scripts.h against a real redis-server (shared/scale-out.md "Keys", "Scripts" and "What
// must hold"; doc/redis-format.md): ids, trimming, expiry, tombstones, idempotency, fetch,
// leases, kicks, receipts, and the frames each script PUBLISHes, read on a second connection.
#include "redis/scripts.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "redis/frames.h"
#include "tests/redis/flushed_redis.h"

namespace pushrelay::redis {
namespace {

using testing::command;
using testing::connect_to;
using testing::ContextPtr;
using testing::ReplyPtr;
using testing::run;
using testing::run_parsed;
using testing::Subscription;

constexpr std::uint64_t kNodeA = 0xa11ce;
constexpr std::uint64_t kNodeB = 0xb0b;

class Scripts : public testing::FlushedRedisTest {
  protected:
    // ---- calls ----

    PublishReply publish(const std::string& body, const core::ChannelLimits& limits = {},
                         const std::string& idempotency = "",
                         StorageMode mode = StorageMode::Distributed, const std::string& event = "",
                         std::optional<std::int64_t> id_floor = std::nullopt) {
        PublishRequest request{"text/plain", body, event, limits, mode, idempotency, id_floor};
        return run_parsed(redis_.get(), publish_call({keys_}, request), parse_publish_reply);
    }

    FetchReply fetch(std::optional<core::MessageId> since, std::uint32_t n = 1,
                     std::optional<std::uint64_t> gen = std::nullopt, bool may_create = true) {
        FetchRequest request{since, n, gen, may_create, core::ChannelLimits{}};
        return run_parsed(redis_.get(), fetch_call(keys_, request), parse_fetch_reply);
    }

    InfoReply info() { return run_parsed(redis_.get(), info_call(keys_), parse_info_reply); }

    CountReply count(std::uint64_t node, std::uint32_t waiters, bool requested = false) {
        return run_parsed(redis_.get(), count_call(keys_, {node, waiters, requested}),
                          parse_count_reply);
    }

    ReceiptReply receipts(const std::vector<Receipt>& batch) {
        return run_parsed(redis_.get(), receipt_call({keys_}, batch), parse_receipt_reply);
    }

    // ---- plain commands ----

    long long integer(const std::vector<std::string>& argv) {
        ReplyPtr reply = command(redis_.get(), argv);
        EXPECT_EQ(reply->type, REDIS_REPLY_INTEGER) << argv[0];
        return reply->integer;
    }

    std::string text(const std::vector<std::string>& argv) {
        ReplyPtr reply = command(redis_.get(), argv);
        return reply->type == REDIS_REPLY_STRING ? std::string(reply->str, reply->len) : "(nil)";
    }

    std::int64_t redis_seconds() {
        ReplyPtr reply = command(redis_.get(), {"TIME"});
        return std::stoll(reply->element[0]->str);
    }

    std::int64_t redis_ms() {
        ReplyPtr reply = command(redis_.get(), {"TIME"});
        return std::stoll(reply->element[0]->str) * 1000 +
               std::stoll(reply->element[1]->str) / 1000;
    }

    // Waits (bounded: 5 s) until Redis's clock reaches `ms`: the event an expiry test awaits.
    void await_redis_ms(std::int64_t ms) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (redis_ms() < ms) {
            ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "Redis's clock stood still";
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    // Pins the channel's last id: the next publish gets (time, tag + 1), whatever Redis's clock.
    void preset_last_id(std::int64_t time, std::uint32_t tag) {
        command(redis_.get(),
                {"HSET", keys_.channel, "lt", std::to_string(time), "lg", std::to_string(tag)});
    }

    std::vector<std::string> stream_ids() {
        ReplyPtr reply = command(redis_.get(), {"XRANGE", keys_.messages, "-", "+"});
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < reply->elements; ++i)
            ids.emplace_back(reply->element[i]->element[0]->str);
        return ids;
    }

    long long pttl(const std::string& key) { return integer({"PTTL", key}); }

    static std::string id_text(core::MessageId id) {
        return std::to_string(id.time) + "-" + std::to_string(id.tag);
    }

    template <typename T>
    static T frame_as(const std::string& bytes) {
        std::variant<Frame, FrameError> decoded = decode_frame(bytes);
        if (const FrameError* error = std::get_if<FrameError>(&decoded))
            throw std::runtime_error(*error);
        return std::get<T>(std::get<Frame>(decoded));
    }

    ChannelKeys keys_ = channel_keys("pr", "g/{chan}");
};

// ---- ids (What must hold 1) ----

TEST_F(Scripts, IdsGrowAndShareASecondByTag) {
    const std::int64_t before = redis_seconds();
    std::vector<core::MessageId> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(publish("m" + std::to_string(i)).id);
    const std::int64_t after = redis_seconds();
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_GE(ids[i].time, before);
        EXPECT_LE(ids[i].time, after);
        if (i == 0)
            continue;
        EXPECT_GT(ids[i], ids[i - 1]);
        EXPECT_EQ(ids[i].tag, ids[i].time == ids[i - 1].time ? ids[i - 1].tag + 1 : 0u);
    }
    // The stream entry id is the message id.
    const std::vector<std::string> entries = stream_ids();
    ASSERT_EQ(entries.size(), 5u);
    EXPECT_EQ(entries.back(), id_text(ids.back()));
}

TEST_F(Scripts, IdsStillGrowWhenRedisClockIsBehindTheLastId) {
    publish("first");
    const std::int64_t future = redis_seconds() + 100;  // as if the clock stepped back 100 s
    preset_last_id(future, 5);
    EXPECT_EQ(publish("a").id, (core::MessageId{future, 6}));
    EXPECT_EQ(publish("b").id, (core::MessageId{future, 7}));
    EXPECT_EQ(stream_ids().back(), id_text({future, 7}));
}

// ---- the M frame ----

TEST_F(Scripts, PublishSendsAnMFrameWithPrevAndOldest) {
    Subscription frames(port(), keys_.pubsub);
    core::ChannelLimits limits;
    limits.max_buffer = 2;
    limits.message_timeout_ms = 60000;
    limits.min_recipients = 3;
    const std::string body("bin\0ary\xfe", 8);
    const PublishReply first = publish(body, limits);
    EXPECT_TRUE(first.created);
    const std::int64_t now = redis_ms();

    const MessageFrame m = frame_as<MessageFrame>(frames.next());
    EXPECT_EQ(m.gen, first.gen);
    EXPECT_EQ(m.id, first.id);
    EXPECT_FALSE(m.prev);
    EXPECT_EQ(m.oldest, first.id);
    EXPECT_TRUE(m.stored);
    EXPECT_GT(m.expires_at_ms, now + 59000);
    EXPECT_LE(m.expires_at_ms, now + 60000);
    EXPECT_EQ(m.limits.max_buffer, 2u);
    EXPECT_EQ(m.limits.min_recipients, 3u);
    EXPECT_EQ(m.limits.message_timeout_ms, 60000);
    EXPECT_EQ(m.content_type, "text/plain");
    EXPECT_EQ(m.body, body);

    const PublishReply second = publish("2", limits);
    const PublishReply third = publish("3", limits);
    EXPECT_FALSE(second.created);
    EXPECT_EQ(frame_as<MessageFrame>(frames.next()).prev, first.id);
    const MessageFrame last = frame_as<MessageFrame>(frames.next());
    EXPECT_EQ(last.prev, second.id);
    EXPECT_EQ(last.oldest, second.id);  // max_buffer 2 dropped the first
    EXPECT_EQ(third.stored, 2u);
}

// Redis restarted without its data: the node's floor (the latest id time it saw) puts a
// channel's first id after it, so that ids never go back; a channel with a last id ignores it.
TEST_F(Scripts, AnIdFloorAtOrAfterNowStartsANewChannelAfterIt) {
    const std::int64_t now = redis_ms() / 1000;
    const PublishReply first = publish("a", {}, "", StorageMode::Distributed, "", now + 5);
    EXPECT_EQ(first.id, (core::MessageId{now + 6, 0}));
    const PublishReply second = publish("b", {}, "", StorageMode::Distributed, "", now + 100);
    EXPECT_EQ(second.id, (core::MessageId{now + 6, 1}));  // the channel's last id rules
    command(redis_.get(), {"DEL", keys_.channel, keys_.messages});
    const PublishReply past = publish("c", {}, "", StorageMode::Distributed, "", now - 10);
    EXPECT_GE(past.id.time, now);  // a floor in the past changes nothing
    EXPECT_LT(past.id.time, now + 6);
}

// X-EventSource-Event crosses nodes: in the frame, and with the stored entry for a fetch.
TEST_F(Scripts, TheEventNameTravelsInTheFrameAndTheStream) {
    Subscription frames(port(), keys_.pubsub);
    const PublishReply named = publish("n", {}, "", StorageMode::Distributed, "update");
    const PublishReply plain = publish("p");
    EXPECT_EQ(frame_as<MessageFrame>(frames.next()).event, "update");
    EXPECT_EQ(frame_as<MessageFrame>(frames.next()).event, "");
    const FetchReply both = fetch(std::nullopt, 2);
    ASSERT_EQ(both.messages.size(), 2u);
    EXPECT_EQ(both.messages[0].id, named.id);
    EXPECT_EQ(both.messages[0].event, "update");
    EXPECT_EQ(both.messages[1].id, plain.id);
    EXPECT_EQ(both.messages[1].event, "");
}

TEST_F(Scripts, NostoreAndStoreMessagesOffAssignIdsButStoreNothing) {
    Subscription frames(port(), keys_.pubsub);
    const PublishReply a = publish("a", {}, "", StorageMode::NoStore);
    core::ChannelLimits off;
    off.store_messages = false;
    const PublishReply b = publish("b", off);
    EXPECT_GT(b.id, a.id);
    EXPECT_EQ(b.stored, 0u);
    EXPECT_EQ(integer({"EXISTS", keys_.messages}), 0);
    const MessageFrame fa = frame_as<MessageFrame>(frames.next());
    const MessageFrame fb = frame_as<MessageFrame>(frames.next());
    EXPECT_FALSE(fa.stored);
    EXPECT_TRUE(fa.limits.store_messages);  // nostore: the nodes store it
    EXPECT_FALSE(fb.stored);
    EXPECT_FALSE(fb.limits.store_messages);
    EXPECT_EQ(fb.prev, a.id);
    EXPECT_FALSE(fb.oldest);
    EXPECT_EQ(fb.body, "b");
}

// ---- trimming ----

TEST_F(Scripts, MaxBufferDropsTheOldest) {
    core::ChannelLimits limits;
    limits.max_buffer = 3;
    std::vector<core::MessageId> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(publish(std::to_string(i), limits).id);
    EXPECT_EQ(stream_ids(),
              (std::vector<std::string>{id_text(ids[2]), id_text(ids[3]), id_text(ids[4])}));
    EXPECT_EQ(info().messages, 3u);
}

TEST_F(Scripts, AnExpiredMessageIsNeverServedAndGoesWhateverMinBuffer) {
    core::ChannelLimits brief;
    brief.min_buffer = 5;
    brief.max_buffer = 10;
    brief.message_timeout_ms = 1;
    publish("brief", brief);
    await_redis_ms(redis_ms() + 2);
    EXPECT_EQ(info().messages, 0u);  // counted as gone before it is dropped
    EXPECT_TRUE(fetch(std::nullopt).messages.empty());
    EXPECT_EQ(stream_ids().size(), 1u);  // info and fetch only read
    const PublishReply next = publish("next", core::ChannelLimits{});
    EXPECT_EQ(stream_ids(), std::vector<std::string>{id_text(next.id)});
}

TEST_F(Scripts, AStragglerThatExpiresBeforeOlderMessagesIsSkippedThenDropped) {
    core::ChannelLimits lasting;
    core::ChannelLimits brief;
    brief.message_timeout_ms = 1;
    const PublishReply kept = publish("kept", lasting);
    publish("straggler", brief);
    await_redis_ms(redis_ms() + 2);
    EXPECT_EQ(info().messages, 1u);
    const FetchReply all = fetch(std::nullopt, 10);
    ASSERT_EQ(all.messages.size(), 1u);
    EXPECT_EQ(all.messages[0].id, kept.id);
    const PublishReply later = publish("later", lasting);
    EXPECT_EQ(stream_ids(), (std::vector<std::string>{id_text(kept.id), id_text(later.id)}));
    EXPECT_EQ(text({"HGET", keys_.channel, "xs"}), "(nil)");  // no straggler left
}

// One publish that drops an expired straggler from the middle and trims the oldest by
// max_buffer: the removals are not all the oldest, so they go by id.
TEST_F(Scripts, AStragglerAndMaxBufferGoInOnePublish) {
    core::ChannelLimits lasting;
    lasting.max_buffer = 3;
    core::ChannelLimits brief = lasting;
    brief.message_timeout_ms = 1;
    const PublishReply oldest = publish("oldest", lasting);
    publish("straggler", brief);
    const PublishReply kept = publish("kept", lasting);
    await_redis_ms(redis_ms() + 2);
    const PublishReply a = publish("a", lasting);
    const PublishReply b = publish("b", lasting);
    EXPECT_EQ(stream_ids(),
              (std::vector<std::string>{id_text(kept.id), id_text(a.id), id_text(b.id)}));
    EXPECT_NE(stream_ids().front(), id_text(oldest.id));
    EXPECT_EQ(b.stored, 3u);
    EXPECT_EQ(text({"HGET", keys_.channel, "xs"}), "(nil)");
    EXPECT_EQ(info().messages, 3u);
}

// More removals than one XDEL carries (the script sends them in chunks).
TEST_F(Scripts, ALowerMaxBufferDropsThousandsAtOnce) {
    core::ChannelLimits many;
    many.max_buffer = 2100;
    many.message_timeout_ms = 0;
    for (int i = 0; i < 2100; ++i) publish("m", many);
    EXPECT_EQ(pttl(keys_.messages), -1);
    core::ChannelLimits one = many;
    one.max_buffer = 1;
    one.message_timeout_ms = 60000;
    const PublishReply last = publish("last", one);
    EXPECT_EQ(last.stored, 1u);
    EXPECT_EQ(stream_ids(), std::vector<std::string>{id_text(last.id)});
    EXPECT_EQ(text({"HGET", keys_.channel, "nx"}), "0");  // every message that never expired went
    EXPECT_GT(pttl(keys_.messages), 60000);               // so the keys expire again
}

// Receipts of the entries a publish trims go with them.
TEST_F(Scripts, APublishThatTrimsDropsTheTrimmedReceipts) {
    core::ChannelLimits limits;
    limits.max_buffer = 2;
    limits.min_recipients = 5;
    const PublishReply a = publish("a", limits);
    const PublishReply b = publish("b", limits);
    receipts({{a.id, 1}, {b.id, 1}});
    ASSERT_EQ(integer({"HLEN", keys_.receipts}), 2);
    publish("c", limits);
    EXPECT_EQ(integer({"HEXISTS", keys_.receipts, id_text(a.id)}), 0);
    EXPECT_EQ(integer({"HEXISTS", keys_.receipts, id_text(b.id)}), 1);
    EXPECT_GT(pttl(keys_.receipts), 0);  // r exists, so it expires with the channel
}

// ---- expiry of the keys ----

TEST_F(Scripts, KeysExpireAfterTheLastMessageAndChannelTimeout) {
    core::ChannelLimits limits;
    limits.max_buffer = 1;
    limits.message_timeout_ms = 10000;
    limits.channel_timeout_ms = 5000;
    publish("a", limits, header_idempotency("k"));
    for (const std::string& key : {keys_.channel, keys_.messages, keys_.idempotency}) {
        EXPECT_GT(pttl(key), 14000) << key;
        EXPECT_LE(pttl(key), 15000) << key;
    }
    core::ChannelLimits forever = limits;
    forever.message_timeout_ms = 0;
    publish("b", forever);
    EXPECT_EQ(pttl(keys_.channel), -1);  // PERSIST while a message never expires
    EXPECT_EQ(pttl(keys_.messages), -1);
    EXPECT_EQ(pttl(keys_.idempotency), -1);
    publish("c", limits);  // max_buffer 1 drops the one that never expires
    EXPECT_GT(pttl(keys_.messages), 14000);
    EXPECT_LE(pttl(keys_.messages), 15000);
    count(kNodeA, 1);  // a lease of 30 s outlasts the message
    EXPECT_GT(pttl(keys_.channel), 34000);
    EXPECT_LE(pttl(keys_.channel), 35000);
}

// ---- delete, tombstones, gen (What must hold 5) ----

TEST_F(Scripts, DeleteLeavesATombstoneAndANewPublishANewGen) {
    Subscription frames(port(), keys_.pubsub);
    const PublishReply before = publish("x");
    frames.next();
    fetch(std::nullopt);
    const InfoReply deleted = run_parsed(redis_.get(), delete_call({keys_}), parse_delete_reply);
    EXPECT_TRUE(deleted.exists);
    EXPECT_EQ(deleted.gen, before.gen);
    EXPECT_EQ(deleted.messages, 1u);
    EXPECT_GE(deleted.requested_ms_ago, 0);
    EXPECT_EQ(deleted.newest, before.id);
    EXPECT_EQ(frame_as<DeletedFrame>(frames.next()).gen, before.gen);
    for (const std::string& key : {keys_.channel, keys_.messages, keys_.idempotency})
        EXPECT_EQ(integer({"EXISTS", key}), 0) << key;
    EXPECT_GT(pttl(keys_.tombstone), 59000);
    EXPECT_LE(pttl(keys_.tombstone), 60000);

    EXPECT_EQ(fetch(std::nullopt, 1, before.gen, true).status, FetchStatus::Gone);
    EXPECT_EQ(integer({"EXISTS", keys_.channel}), 0);  // Gone creates nothing
    EXPECT_FALSE(info().exists);
    EXPECT_FALSE(run_parsed(redis_.get(), delete_call({keys_}), parse_delete_reply).exists);

    const PublishReply after = publish("y");
    EXPECT_TRUE(after.created);
    EXPECT_GT(after.gen, before.gen);
    EXPECT_EQ(fetch(std::nullopt, 1, before.gen).status, FetchStatus::Gone);
    const FetchReply fresh = fetch(std::nullopt, 1, after.gen);
    EXPECT_EQ(fresh.status, FetchStatus::Ok);
    ASSERT_EQ(fresh.messages.size(), 1u);
    EXPECT_EQ(fresh.messages[0].body, "y");
}

// ---- idempotency ----

TEST_F(Scripts, ASeenIdempotencyKeyStoresNothingAndAnswersTheFirstId) {
    Subscription frames(port(), keys_.pubsub);
    const PublishReply first = publish("once", {}, header_idempotency("key-1"));
    const PublishReply again = publish("once", {}, header_idempotency("key-1"));
    EXPECT_FALSE(first.duplicate);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.id, first.id);
    EXPECT_EQ(again.gen, first.gen);
    EXPECT_EQ(again.stored, 1u);
    const PublishReply other = publish("twice", {}, retry_idempotency(kNodeA, 1));
    EXPECT_FALSE(other.duplicate);
    EXPECT_EQ(stream_ids().size(), 2u);
    // The duplicate sent no frame: the one after the first is the other's.
    EXPECT_EQ(frame_as<MessageFrame>(frames.next()).id, first.id);
    EXPECT_EQ(frame_as<MessageFrame>(frames.next()).id, other.id);
}

TEST_F(Scripts, IdempotencyKeepsTheLast1024ForTenMinutes) {
    core::ChannelLimits limits;
    limits.max_buffer = 1;
    for (int i = 0; i < 1030; ++i) publish("m", limits, header_idempotency(std::to_string(i)));
    EXPECT_EQ(integer({"ZCARD", keys_.idempotency}), 1024);
    EXPECT_TRUE(publish("m", limits, header_idempotency("1029")).duplicate);
    EXPECT_FALSE(publish("m", limits, header_idempotency("0")).duplicate);  // pushed out

    // A key seen 11 minutes ago is forgotten.
    const std::string old_score = std::to_string((redis_seconds() - 660) * 1000000);
    integer({"ZADD", keys_.idempotency, old_score, header_idempotency("old")});
    EXPECT_FALSE(publish("m", limits, header_idempotency("old")).duplicate);
}

// ---- fetch (protocol.md "Message identity": the search) ----

TEST_F(Scripts, FetchFindsTheFirstStoredAfterSince) {
    const std::int64_t t = redis_seconds() + 50;
    fetch(std::nullopt);  // creates the channel
    preset_last_id(t, 0);
    publish("t1");  // (t, 1)
    publish("t2");  // (t, 2)
    preset_last_id(t + 5, 7);
    publish("u8");  // (t+5, 8): a later time with a smaller tag

    auto first_after = [&](std::optional<core::MessageId> since) {
        const FetchReply reply = fetch(since);
        EXPECT_EQ(reply.status, FetchStatus::Ok);
        return reply.messages.empty() ? std::string("none") : reply.messages[0].body;
    };
    EXPECT_EQ(first_after(std::nullopt), "t1");  // the oldest
    EXPECT_EQ(first_after(core::MessageId{t, 0}), "t1");
    EXPECT_EQ(first_after(core::MessageId{t, 1}), "t2");
    EXPECT_EQ(first_after(core::MessageId{t, 2}), "u8");
    EXPECT_EQ(first_after(core::MessageId{t, 99}), "u8");
    EXPECT_EQ(first_after(core::MessageId{t - 100, 0}), "t1");  // dropped long ago: the oldest
    EXPECT_EQ(first_after(core::MessageId{t + 5, 8}), "none");  // up to date: hold

    const FetchReply resync = fetch(core::MessageId{t, 1}, 10);
    ASSERT_EQ(resync.messages.size(), 2u);
    EXPECT_EQ(resync.messages[0].id, (core::MessageId{t, 2}));
    EXPECT_EQ(resync.messages[1].id, (core::MessageId{t + 5, 8}));
    EXPECT_EQ(resync.messages[1].content_type, "text/plain");
    EXPECT_EQ(resync.newest, (core::MessageId{t + 5, 8}));
    EXPECT_EQ(fetch(std::nullopt, 2).messages.size(), 2u);  // up to n
}

TEST_F(Scripts, FetchCreatesTheChannelUnlessAuthorizedOnly) {
    EXPECT_EQ(fetch(std::nullopt, 1, std::nullopt, false).status, FetchStatus::Forbidden);
    EXPECT_EQ(integer({"EXISTS", keys_.channel}), 0);
    const FetchReply created = fetch(std::nullopt);
    EXPECT_EQ(created.status, FetchStatus::Ok);
    EXPECT_TRUE(created.created);
    EXPECT_FALSE(created.newest);
    EXPECT_GT(pttl(keys_.channel), 4000);  // channel_timeout 5 s
    EXPECT_LE(pttl(keys_.channel), 5000);
    const FetchReply again = fetch(std::nullopt, 1, created.gen, false);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.gen, created.gen);
    const std::int64_t requested = info().requested_ms_ago;  // recorded by the fetch
    EXPECT_GE(requested, 0);
    EXPECT_LT(requested, 1000);
    EXPECT_EQ(publish("p").gen, created.gen);
}

// ---- leases and counts (What must hold 6) ----

TEST_F(Scripts, CountSumsLiveLeasesAndALapsedLeaseDrops) {
    EXPECT_EQ(count(kNodeA, 3).status, LeaseStatus::Absent);
    publish("p");
    EXPECT_EQ(info().requested_ms_ago, -1);
    EXPECT_EQ(count(kNodeA, 3).subscribers, 3u);
    EXPECT_EQ(count(kNodeB, 2, true).subscribers, 5u);
    EXPECT_GE(info().requested_ms_ago, 0);
    EXPECT_EQ(publish("q").subscribers, 5u);
    EXPECT_EQ(info().subscribers, 5u);

    // Node A died: its lease lapses.
    command(redis_.get(), {"HSET", keys_.channel, "n:a11ce", "3 1"});
    EXPECT_EQ(info().subscribers, 2u);
    EXPECT_EQ(count(kNodeB, 2).subscribers, 2u);
    EXPECT_EQ(integer({"HEXISTS", keys_.channel, "n:a11ce"}), 0);
    EXPECT_EQ(count(kNodeB, 0).subscribers, 0u);
    EXPECT_EQ(integer({"HEXISTS", keys_.channel, "n:b0b"}), 0);

    run(redis_.get(), delete_call({keys_}));
    EXPECT_EQ(count(kNodeA, 1).status, LeaseStatus::Gone);
}

// ---- kick ----

TEST_F(Scripts, KickLastCountsUpAndPublishesK) {
    EXPECT_EQ(run_parsed(redis_.get(), kick_call({keys_}, KickMode::Last, kNodeA), parse_kick_reply)
                  .status,
              LeaseStatus::Absent);
    const PublishReply channel = publish("p");
    Subscription frames(port(), keys_.pubsub);
    for (std::uint64_t seq = 1; seq <= 2; ++seq) {
        const KickReply kick =
            run_parsed(redis_.get(), kick_call({keys_}, KickMode::Last, kNodeA), parse_kick_reply);
        EXPECT_EQ(kick.status, LeaseStatus::Ok);
        EXPECT_EQ(kick.seq, seq);
        const KickFrame frame = frame_as<KickFrame>(frames.next());
        EXPECT_EQ(frame.gen, channel.gen);
        EXPECT_EQ(frame.seq, seq);
        EXPECT_EQ(frame.node, kNodeA);
    }
    // Node ids are 53 bits: the script holds the largest exactly.
    const std::uint64_t largest = (std::uint64_t{1} << 53) - 1;
    run_parsed(redis_.get(), kick_call({keys_}, KickMode::Last, largest), parse_kick_reply);
    EXPECT_EQ(frame_as<KickFrame>(frames.next()).node, largest);
}

TEST_F(Scripts, KickFirstRefusesWhileAnotherNodeHoldsWaiters) {
    publish("p");
    auto first = [&](std::uint64_t node) {
        return run_parsed(redis_.get(), kick_call({keys_}, KickMode::First, node), parse_kick_reply)
            .status;
    };
    EXPECT_EQ(first(kNodeA), LeaseStatus::Ok);  // takes a lease of one waiter
    EXPECT_EQ(info().subscribers, 1u);
    EXPECT_EQ(first(kNodeB), LeaseStatus::Conflict);
    EXPECT_EQ(first(kNodeA), LeaseStatus::Ok);  // its own lease is no conflict
    count(kNodeA, 0);
    EXPECT_EQ(first(kNodeB), LeaseStatus::Ok);
}

// ---- receipts ----

TEST_F(Scripts, MinRecipientsTrimsDownToMinBufferAndPublishesT) {
    core::ChannelLimits limits;
    limits.min_buffer = 1;
    limits.min_recipients = 2;
    std::vector<core::MessageId> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(publish(std::to_string(i), limits).id);
    Subscription frames(port(), keys_.pubsub);

    ReceiptReply reply = receipts({{ids[0], 1}});
    EXPECT_EQ(reply.trimmed, 0u);
    EXPECT_EQ(reply.stored, 3u);
    reply = receipts({{ids[0], 1}, {ids[1], 2}, {ids[2], 5}});
    EXPECT_EQ(reply.trimmed, 2u);  // the third is received too, but min_buffer keeps it
    EXPECT_EQ(reply.stored, 1u);
    EXPECT_EQ(reply.oldest, ids[2]);
    const TrimmedFrame trimmed = frame_as<TrimmedFrame>(frames.next());
    EXPECT_EQ(trimmed.oldest, ids[2]);
    EXPECT_EQ(integer({"HLEN", keys_.receipts}), 1);  // the dropped entries' receipts went too

    // A receipt for an entry that is gone counts nothing.
    receipts({{ids[0], 9}});
    EXPECT_EQ(integer({"HEXISTS", keys_.receipts, id_text(ids[0])}), 0);
}

TEST_F(Scripts, DeleteOldestReceivedDropsTheOldestOnceReceived) {
    core::ChannelLimits limits;
    limits.delete_oldest_received = true;
    const PublishReply a = publish("a", limits);
    const PublishReply b = publish("b", limits);
    const ReceiptReply reply = receipts({{b.id, 1}});
    EXPECT_EQ(reply.trimmed, 0u);  // the oldest is not received yet
    EXPECT_EQ(receipts({{a.id, 1}}).trimmed, 1u);
    EXPECT_EQ(stream_ids(), std::vector<std::string>{id_text(b.id)});
}

TEST_F(Scripts, ReceiptsAreIgnoredWithoutARuleThatNeedsThem) {
    const PublishReply a = publish("a");
    publish("b");
    EXPECT_EQ(receipts({{a.id, 10}}).trimmed, 0u);
    EXPECT_EQ(integer({"EXISTS", keys_.receipts}), 0);
}

// ---- loading ----

TEST_F(Scripts, NoscriptLoadsAndRetries) {
    command(redis_.get(), {"SCRIPT", "FLUSH"});
    EXPECT_EQ(publish("after flush").stored, 1u);  // run() threw if SCRIPT LOAD gave another SHA1
    for (Script s : {Script::Publish, Script::Fetch, Script::Delete, Script::Info, Script::Count,
                     Script::Kick, Script::Receipt}) {
        ReplyPtr loaded = command(redis_.get(), {"SCRIPT", "LOAD", std::string(script_source(s))});
        ASSERT_EQ(loaded->type, REDIS_REPLY_STRING) << script_name(s) << ": " << loaded->str;
        EXPECT_EQ(std::string(loaded->str, loaded->len), script_sha1(s)) << script_name(s);
    }
}

}  // namespace
}  // namespace pushrelay::redis
