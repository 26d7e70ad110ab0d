// Helpers shared by the conf unit tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "conf/conf.h"

namespace pushrelay::conf::testing {

inline constexpr const char* kConfName = "/etc/pushrelay/test.conf";
inline constexpr const char* kPrefix = "/srv/pr";

// Loads text as /etc/pushrelay/test.conf with prefix /srv/pr.
inline LoadResult load(std::string_view text, const std::string& extra = "") {
    return load_string(text, kConfName, kPrefix, extra);
}

// The error a load reports ("FILE:LINE: MESSAGE"), or "loaded" if it succeeded.
inline std::string load_error(std::string_view text, const std::string& extra = "") {
    LoadResult result = load(text, extra);
    return result ? std::string("loaded") : result.error.describe();
}

// A minimal server around the given location body, for tests about one location.
inline std::string one_location(std::string_view body, std::string_view http_level = "") {
    return "http {\n" + std::string(http_level) +
           "\nserver {\nlisten 127.0.0.1:8080;\nlocation /x {\n" + std::string(body) +
           "\n}\n}\n}\n";
}

// The /x location of a conf built with one_location; the load must succeed.
inline Location loaded_location(std::string_view body, std::string_view http_level = "") {
    LoadResult result = load(one_location(body, http_level));
    if (!result) {
        ADD_FAILURE() << result.error.describe();
        return Location{};
    }
    return result.config->servers.at(0).locations.at(0);
}

// A directory removed with its contents at the end of the test.
class TempDir {
  public:
    TempDir() {
        char name[] = "/tmp/pushrelay-conf-XXXXXX";
        path_ = mkdtemp(name);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // Writes relative (creating directories) and returns its absolute path.
    std::string write(const std::string& relative, std::string_view text) const {
        std::filesystem::path file = path_ / relative;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file) << text;
        return file.string();
    }
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

inline sockaddr_storage ipv4_peer(const char* address) {
    sockaddr_storage storage{};
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, address, &in->sin_addr);
    return storage;
}

inline sockaddr_storage ipv6_peer(const char* address) {
    sockaddr_storage storage{};
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, address, &in6->sin6_addr);
    return storage;
}

inline const sockaddr* as_sockaddr(const sockaddr_storage& storage) {
    return reinterpret_cast<const sockaddr*>(&storage);
}

}  // namespace pushrelay::conf::testing
