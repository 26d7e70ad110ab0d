// Tests for master/startup.h: the line a foreground pushrelay prints when it starts.
#include "master/startup.h"

#include <gtest/gtest.h>

namespace pushrelay::master {
namespace {

std::string line_for(std::string_view conf) {
    conf::LoadResult loaded = conf::load_string(conf, "/t/pushrelay.conf", "/t/");
    if (!loaded) {
        ADD_FAILURE() << loaded.error.describe();
        return "";
    }
    return startup_line(*loaded.config, "9.8.7");
}

TEST(StartupLine, EachListenWithTheRolesOfItsLocations) {
    EXPECT_EQ(line_for(R"(
        worker_processes 2;
        http {
            server {
                listen 127.0.0.1:8089;
                location /pub { push_publisher; }
                location = /status { push_stub_status; }
            }
            server {
                listen 8088;
                location /sub { push_subscriber; }
            }
        })"),
              "pushrelay 9.8.7 started: 2 workers; 127.0.0.1:8089 publisher (/pub), "
              "status (= /status); 0.0.0.0:8088 subscriber (/sub)");
}

TEST(StartupLine, LocationsOfOneRoleAreListedTogetherAsWritten) {
    EXPECT_EQ(line_for(R"(
        http { server {
            listen 8080;
            location ~* ^/pub/(\w+)$ { push_publisher; }
            location /sub { push_subscriber; }
            location ^~ /pub { push_publisher; }
            location /static { }
        } })"),
              "pushrelay 9.8.7 started: 1 worker; 0.0.0.0:8080 publisher (~* ^/pub/(\\w+)$, ^~ "
              "/pub), subscriber (/sub)");
}

TEST(StartupLine, EveryListenOfAServerAndTheServersOwnRole) {
    EXPECT_EQ(line_for(R"(
        http {
            server { listen 127.0.0.1:80; listen [::1]:80; push_subscriber; }
            server { listen 81; push_publisher; location = /status { push_stub_status; } }
        })"),
              "pushrelay 9.8.7 started: 1 worker; 127.0.0.1:80 subscriber (any path); "
              "[::1]:80 subscriber (any path); 0.0.0.0:81 status (= /status), "
              "publisher (any other path)");
}

TEST(StartupLine, AServerWithoutRoles) {
    EXPECT_EQ(line_for("http { server { listen 80; location / { } } }"),
              "pushrelay 9.8.7 started: 1 worker; 0.0.0.0:80 (no push locations)");
}

}  // namespace
}  // namespace pushrelay::master
