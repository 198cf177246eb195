// no_exceptions.cpp: the C++ wrapper in a -fno-exceptions build, the way a
// low-latency shop uses it: try_ methods and result codes only. Builds a
// client from the APCA_* variables of tests/c_packaging.rs (a mock), prints
// its header line from the allocation-free path, and shows what a refused
// setting and a moved-from client return.
#include <cstdio>
#include <utility>

#include "alpaca_auth.hpp"

#if ALPACA_AUTH_HPP_EXCEPTIONS
#error "compile this program with -fno-exceptions"
#endif

int main() {
    if (!alpaca_auth::library_is_compatible()) {
        std::fprintf(stderr, "the library is older than alpaca_auth.h\n");
        return 1;
    }

    alpaca_auth::builder refused;
    if (!refused) {
        return 1;
    }
    alpaca_auth::result r = refused.try_environment("nowhere");
    std::printf("unknown environment: %s\n", alpaca_auth::result_name(r));

    alpaca_auth::builder config(nullptr);
    r = alpaca_auth::builder::try_from_env(config);
    alpaca_auth::client client;
    if (r == ALPACA_AUTH_RESULT_OK) {
        r = config.try_build(client);
    }
    if (r != ALPACA_AUTH_RESULT_OK) {
        std::fprintf(stderr, "build: %s: %s\n", alpaca_auth::result_name(r),
                     alpaca_auth::last_error().c_str());
        return 1;
    }
    if (config) {
        std::fprintf(stderr, "the builder was not consumed\n");
        return 1;
    }

    char line[ALPACA_AUTH_MAX_HEADER_LINE];
    std::size_t length = 0;
    r = client.try_header_line(0, line, sizeof line, length);
    if (r != ALPACA_AUTH_RESULT_OK) {
        std::fprintf(stderr, "header_line: %s: %s\n", alpaca_auth::result_name(r),
                     alpaca_auth::last_error().c_str());
        return 1;
    }
    std::printf("header: %.*s\n", static_cast<int>(length), line);

    alpaca_auth::client moved = std::move(client);
    std::string token;
    r = client.try_access_token(token);
    std::printf("moved-from client: %s\n", alpaca_auth::result_name(r));
    if (static_cast<bool>(client) || !moved) {
        return 1;
    }
    alpaca_auth::stats counters;
    r = moved.try_stats(counters);
    return r == ALPACA_AUTH_RESULT_OK && counters.token_http_requests == 1 ? 0 : 1;
}
