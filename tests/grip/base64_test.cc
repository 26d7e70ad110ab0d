// grip/base64.h: RFC 4648 §10 test vectors, both alphabets, and the strictness of decoding.
#include "grip/base64.h"

#include <gtest/gtest.h>

namespace pushrelay::grip {
namespace {

TEST(GripBase64, Rfc4648Vectors) {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                           {"f", "Zg=="},
                                                           {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},
                                                           {"foob", "Zm9vYg=="},
                                                           {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (auto [plain, coded] : vectors) {
        EXPECT_EQ(base64_encode(plain), coded);
        EXPECT_EQ(base64_decode(coded), plain);
    }
}

TEST(GripBase64, UrlAlphabetWithoutPadding) {
    const std::string bytes("\xfb\xff\xfe", 3);
    EXPECT_EQ(base64_encode(bytes), "+//+");
    EXPECT_EQ(base64url_encode(bytes), "-__-");
    EXPECT_EQ(base64url_decode("-__-"), bytes);
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_decode("Zg"), "f");
    EXPECT_EQ(base64url_decode("Zg=="), "f");
    EXPECT_FALSE(base64url_decode("+//+"));
}

TEST(GripBase64, DecodeRefusesNonCanonicalInput) {
    EXPECT_EQ(base64_decode("Zg"), "f");  // missing padding accepted
    for (const char* bad : {"Z", "Zg===", "Z=g=", " Zg==", "Zg==\n", "Zm9v!", "Zm9vY", "===="})
        EXPECT_FALSE(base64_decode(bad)) << bad;
    EXPECT_EQ(base64_decode(std::string("AA==")), std::string(1, '\0'));
}

}  // namespace
}  // namespace pushrelay::grip
