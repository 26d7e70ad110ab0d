// Replays the protocol fuzz corpora (tests/fuzz/corpus/{request_parser,message_id,message_http})
// through the fuzz targets' own code (tests/fuzz/protocol_drivers.h), so every case a fuzzer kept,
// including those that once crashed, stays covered by `make test` and the ASan build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/protocol_drivers.h"

namespace pushrelay::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files(const std::string& target) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& e :
         fs::directory_iterator(fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus" / target)) {
        if (e.is_regular_file())
            files.push_back(e.path());
    }
    return files;
}

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replay(const std::string& target, const std::function<std::string(std::string_view)>& run) {
    std::vector<fs::path> files = corpus_files(target);
    ASSERT_FALSE(files.empty()) << "no corpus for " << target;
    for (const fs::path& file : files) {
        EXPECT_EQ(run(read_bytes(file)), "") << file;
    }
}

TEST(FuzzCorpus, RequestParser) {
    replay("request_parser", [](std::string_view in) { return run_request_parser(in); });
}
TEST(FuzzCorpus, MessageId) {
    replay("message_id", run_message_id);
}
TEST(FuzzCorpus, MessageHttp) {
    replay("message_http", run_message_http);
}

// A replay that only ever saw rejected input would prove little: the request corpus must hold
// streams that complete requests (one-byte packets included) and streams the parser refuses
// with each of its 4xx statuses.
TEST(FuzzCorpus, RequestCorpusReachesEveryOutcome) {
    size_t completed = 0;
    std::set<int> statuses;
    for (const fs::path& file : corpus_files("request_parser")) {
        RequestTally tally;
        run_request_parser(read_bytes(file), &tally);
        completed += tally.completed;
        statuses.insert(tally.error_status);
    }
    EXPECT_GT(completed, 0u);
    for (int status : {400, 413, 431, 505}) EXPECT_TRUE(statuses.count(status)) << status;
}

// One-byte packets (byte 0 = 0) through a pipelined pair complete both requests.
TEST(FuzzCorpus, DriverCompletesOneBytePackets) {
    RequestTally tally;
    const std::string stream =
        std::string(1, '\0') +
        "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    EXPECT_EQ(run_request_parser(stream, &tally), "");
    EXPECT_EQ(tally.completed, 2u);
    EXPECT_EQ(tally.error_status, 0);
}

// Finding: llhttp (built without LLHTTP_STRICT_MODE) skipped any two bytes after a chunk's data,
// so "5\r\nhelloXX0\r\n\r\n" was the body "hello". The CRLF is now checked, also when it
// arrives one byte per packet (byte 0 = 0) or split between packets.
TEST(FuzzCorpus, ChunkDataMustEndWithCrlf) {
    const std::string head = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (char packets : {'\0', '\x07', '\x3f'}) {
        for (std::string bad :
             {"5\r\nhelloXX0\r\n\r\n", "5\r\nhello\rX0\r\n\r\n", "5\r\nhello\n\r0\r\n\r\n"}) {
            RequestTally tally;
            EXPECT_EQ(run_request_parser(std::string(1, packets) + head + bad, &tally), "");
            EXPECT_EQ(tally.completed, 0u) << bad;
            EXPECT_EQ(tally.error_status, 400) << bad;
        }
        RequestTally good;
        EXPECT_EQ(
            run_request_parser(
                std::string(1, packets) + head + "5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\n\r\n", &good),
            "");
        EXPECT_EQ(good.completed, 1u);
        EXPECT_EQ(good.error_status, 0);
    }
}

}  // namespace
}  // namespace pushrelay::fuzz
