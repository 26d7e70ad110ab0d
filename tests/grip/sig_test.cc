// Grip-Sig (grip.md "Proxying"): tokens made here equal ones computed independently with
// python3's hmac/hashlib/base64 (the script is in the comment of each vector), and validation
// accepts exactly the tokens it should.
#include "grip/sig.h"

#include <gtest/gtest.h>

#include "grip/base64.h"

namespace pushrelay::grip {
namespace {

// python3: b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()
//   h = b64u(b'{"alg":"HS256","typ":"JWT"}')
//   p = b64u(json.dumps({"iss": ISS, "exp": NOW + 3600}, separators=(',', ':')).encode())
//   h + '.' + p + '.' + b64u(hmac.new(KEY, (h + '.' + p).encode(), hashlib.sha256).digest())
constexpr char kDefaultKeyToken[] =  // ISS "pushpin", KEY b"changeme", NOW 1700000000
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJwdXNocGluIiwiZXhwIjoxNzAwMDAzNjAwfQ."
    "nv_CZxbKPtW9c7pb0AsTvOD49IbZaj5LGd0CowmXKR0";
constexpr char kBinaryKeyToken[] =  // ISS "my-iss", KEY b64decode("c2VjcmV0AP8="), NOW 1234567890
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJteS1pc3MiLCJleHAiOjEyMzQ1NzE0OTB9."
    "AC3ePxwM-swtBTq8XcWfpV4t4MAUUV6RTwPRlDIwQMQ";

TEST(GripSig, MatchesIndependentlyComputedVectors) {
    EXPECT_EQ(make_sig("pushpin", "changeme", 1700000000), kDefaultKeyToken);
    std::optional<std::string> key = parse_key("base64:c2VjcmV0AP8=");
    ASSERT_TRUE(key);
    EXPECT_EQ(*key, std::string("secret\0\xff", 8));
    EXPECT_EQ(make_sig("my-iss", *key, 1234567890), kBinaryKeyToken);
}

TEST(GripSig, ParseKey) {
    EXPECT_EQ(parse_key("changeme"), "changeme");
    EXPECT_EQ(parse_key("base64:"), "");
    EXPECT_FALSE(parse_key("base64:not base64!"));
}

TEST(GripSig, ValidatesSignatureAndExpiry) {
    EXPECT_TRUE(validate_sig(kDefaultKeyToken, "changeme", 1700000000));
    EXPECT_TRUE(validate_sig(kDefaultKeyToken, "changeme", 1700003599));
    EXPECT_FALSE(validate_sig(kDefaultKeyToken, "changeme", 1700003600));  // exp must be ahead
    EXPECT_FALSE(validate_sig(kDefaultKeyToken, "changemf", 1700000000));
    EXPECT_TRUE(validate_sig(make_sig("anyone", "k", 100), "k", 100));  // iss not checked
    std::string tampered = kDefaultKeyToken;
    tampered[tampered.size() - 2] ^= 1;
    EXPECT_FALSE(validate_sig(tampered, "changeme", 1700000000));
    for (const char* bad : {"", ".", "..", "a.b.c", "a.b", "a.b.c.d"})
        EXPECT_FALSE(validate_sig(bad, "changeme", 0)) << bad;
}

// Correctly HMAC-signed under key b"k" (same python3 recipe, other header and claims), yet
// invalid: alg "none"; no exp; exp as a string.
TEST(GripSig, RefusesOtherAlgorithmsAndBadExp) {
    for (const char* token :
         {"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5OX0."
          "tbRy_aUViJISg8W_DR4YtCsWx8aHENfMh68Ly8ycbgc",
          "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ4In0."
          "PMiFXosgh8-sAX59U6ett4QvHsUC7a6c5N2ZmPVs0ME",
          "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiI5OTk5OTk5OTk5OSJ9."
          "hWG2Heifh7x294eclGIDrLc9mzt7K_BzPmjNWJWAYhc"}) {
        EXPECT_FALSE(validate_sig(token, "k", 0)) << token;
    }
}

TEST(GripSig, CacheReusesTokenWhileFiftyNineMinutesAhead) {
    SigCache cache("pushpin", "changeme");
    const std::string first = cache.token(1700000000);
    EXPECT_EQ(first, kDefaultKeyToken);
    EXPECT_EQ(cache.token(1700000060), first);  // exp still exactly 59 min ahead
    EXPECT_NE(cache.token(1700000061), first);  // less than 59 min ahead: remade
    EXPECT_EQ(cache.token(1700000061), make_sig("pushpin", "changeme", 1700000061));
}

}  // namespace
}  // namespace pushrelay::grip
