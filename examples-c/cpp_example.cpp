// cpp_example.cpp: the C++ wrapper. Builds a client setting by setting
// (client_secret_post, with the token endpoint and base URLs taken from the
// same variables as the C quickstart), prints its headers, shows what a
// failure looks like, and fetches a new token after invalidate().
//
//   APCA_CLIENT_ID=... APCA_CLIENT_SECRET=... [APCA_AUTH_URL=...] ./cpp_example
#include <cstdlib>
#include <iostream>
#include <string>

#include "alpaca_auth.hpp"

namespace {

std::string env(const char *name, const char *fallback = "") {
    const char *value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

} // namespace

int main() {
    try {
        std::cout << "alpaca-auth " << alpaca_auth::version() << "\n";

        // A refused setting throws at once, with the code and the reason.
        try {
            alpaca_auth::builder().environment("nowhere");
            std::cerr << "an unknown environment was accepted\n";
            return 1;
        } catch (const alpaca_auth::error &e) {
            std::cout << "refused: " << e.code_name() << " (" << static_cast<unsigned>(e.code())
                      << "): " << e.what() << "\n";
        }

        alpaca_auth::builder config;
        config.environment(env("APCA_ENVIRONMENT", "broker-sandbox"))
            .client_secret(env("APCA_CLIENT_ID"), env("APCA_CLIENT_SECRET"))
            .connect_timeout(std::chrono::seconds(2))
            .token_budget(std::chrono::seconds(20));
        if (const std::string url = env("APCA_AUTH_URL"); !url.empty()) {
            config.token_url(url);
        }
        if (const std::string url = env("APCA_API_BASE_URL"); !url.empty()) {
            config.api_base_url(url);
        }
        if (const std::string url = env("APCA_API_DATA_URL"); !url.empty()) {
            config.data_base_url(url);
        }
        alpaca_auth::client client = config.build();

        std::cout << "environment: " << client.environment() << "\n"
                  << "api base: " << client.api_base_url() << "\n"
                  << "token url: " << client.token_url() << "\n";
        for (const std::string &line : client.auth_header_lines()) {
            std::cout << "header: " << line << "\n";
        }
        // The order-path form: into a buffer of one's own, no allocation.
        char line[ALPACA_AUTH_MAX_HEADER_LINE];
        const std::size_t length = client.header_line(0, line, sizeof line);
        std::cout << "fast line matches: "
                  << (std::string(line, length) == client.auth_header_lines().at(0) ? "yes" : "no")
                  << " (" << client.header_count() << " line)\n";

        const std::string first = client.access_token();
        client.invalidate(); // as after a 401 from the API
        const std::string second = client.access_token();
        std::cout << "new token after invalidate: " << (first != second ? "yes" : "no") << "\n";
        std::cout << "token requests: " << client.stats().token_http_requests << "\n";

        // Moving transfers ownership; the moved-from object refuses to work.
        alpaca_auth::client moved = std::move(client);
        try {
            (void)client.access_token();
        } catch (const alpaca_auth::error &e) {
            std::cout << "moved-from client: " << e.code_name() << "\n";
        }
        std::cout << "moved client still works: " << (moved.access_token() == second ? "yes" : "no")
                  << "\n";
        return 0;
    } catch (const alpaca_auth::error &e) {
        std::cerr << "alpaca-auth error " << e.code_name() << ": " << e.what() << "\n";
        return 1;
    }
}
