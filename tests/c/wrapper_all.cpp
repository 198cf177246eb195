// wrapper_all.cpp: calls every member of alpaca_auth.hpp, so that a
// syntax-only compilation instantiates each one. Compiled (not run) by
// tests/c_packaging.rs in C++11 to C++20, with and without exceptions.
#include "alpaca_auth.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

class null_store : public alpaca_auth::token_store {
  public:
    alpaca_auth::result load(const char *, entry &, bool &found) noexcept override {
        found = false;
        return ALPACA_AUTH_RESULT_OK;
    }
    alpaca_auth::result publish(const char *, const entry &) noexcept override {
        return ALPACA_AUTH_RESULT_OK;
    }
    alpaca_auth::result try_lock(const char *, bool &acquired) noexcept override {
        acquired = true;
        return ALPACA_AUTH_RESULT_OK;
    }
    alpaca_auth::result unlock(const char *) noexcept override { return ALPACA_AUTH_RESULT_OK; }
};

static int non_throwing(alpaca_auth::builder &b, alpaca_auth::client &c) {
    std::string s;
    std::vector<std::string> lines;
    char buf[ALPACA_AUTH_MAX_HEADER_LINE];
    std::size_t length = 0;
    bool flag = false;
    alpaca_auth::stats counters;
    alpaca_auth::refresher_status status;
    const std::chrono::milliseconds ms(5);
    int failures = 0;
    alpaca_auth::builder other(nullptr);
    failures += alpaca_auth::builder::try_new(other) != ALPACA_AUTH_RESULT_OK;
    failures += alpaca_auth::builder::try_from_env(other) != ALPACA_AUTH_RESULT_OK;
    failures += b.try_environment("paper") + b.try_api_key("k", "s") + b.try_api_key_basic("k", "s");
    failures += b.try_client_secret("c", "s") + b.try_client_private_key("c", "key");
    failures += b.try_assertion_kid("kid") + b.try_api_base_url("u") + b.try_data_base_url("u");
    failures += b.try_api_key_headers("k", "s") + b.try_assertion_audience("a");
    failures += b.try_assertion_typ("t") + b.try_assertion_lifetime_s(60);
    failures += b.try_assertion_alg("ES256") + b.try_scope("s") + b.try_token_cache_dir("d");
    failures += b.try_token_url("u") + b.try_connect_timeout(ms) + b.try_request_timeout(ms);
    failures += b.try_token_budget(ms) + b.try_add_ca_bundle_pem("pem") + b.try_proxy("u");
    failures += b.try_token_store(std::make_shared<null_store>()) + b.try_tls_roots("env");
    failures += b.try_add_ca_bundle_file("ca.pem");
    failures += b.try_disable_proxy() + b.try_background_refresh(true) + b.try_build(c);
    failures += alpaca_auth::client::try_from_env(c);
    failures += c.try_access_token(s) + c.try_auth_header_lines(lines);
    failures += c.try_header_line(0, buf, sizeof buf, length) + c.try_invalidate();
    std::uint64_t remaining = 0;
    failures += c.try_header_line_nonblocking(0, buf, sizeof buf, length);
    failures += c.try_token_remaining_ms(remaining) + c.try_invalidate_token("t");
    failures += b.try_max_wait(ms);
    failures += c.try_refresher_status(status) + c.try_stats(counters) + c.try_uses_tokens(flag);
    alpaca_auth_store_status store_status = ALPACA_AUTH_STORE_STATUS_NONE;
    failures += c.try_token_store_status(store_status);
    failures += c.try_api_base_url(s) + c.try_data_base_url(s) + c.try_token_url(s);
    failures += c.try_environment(s) + static_cast<int>(c.header_count());
    failures += static_cast<bool>(b) + static_cast<bool>(c) + (b.get() != nullptr) + (c.get() != nullptr);
    alpaca_auth_client_free(c.release());
    alpaca_auth_builder_free(b.release());
    failures += !alpaca_auth::library_is_compatible();
    failures += alpaca_auth::version().empty() + alpaca_auth::last_error().empty();
    failures += alpaca_auth::result_name(ALPACA_AUTH_RESULT_OK)[0];
    return failures;
}

#if ALPACA_AUTH_HPP_EXCEPTIONS
static int throwing() {
    char buf[ALPACA_AUTH_MAX_HEADER_LINE];
    std::size_t length = 0;
    const std::chrono::milliseconds ms(5);
    try {
        alpaca_auth::builder b = alpaca_auth::builder::from_env();
        b.environment("paper").api_key("k", "s").api_key_basic("k", "s").client_secret("c", "s");
        b.client_private_key("c", "k").assertion_kid("k").api_base_url("u").data_base_url("u");
        b.api_key_headers("k", "s").assertion_audience("a").assertion_typ("t");
        b.assertion_lifetime_s(60).assertion_alg("ES256").scope("s").token_cache_dir("d");
        b.max_wait(ms).token_url("u").connect_timeout(ms).request_timeout(ms).token_budget(ms);
        b.token_store(std::make_shared<null_store>());
        b.add_ca_bundle_pem("p").proxy("u").disable_proxy().background_refresh(false);
        b.tls_roots("bundled").add_ca_bundle_file("ca.pem");
        alpaca_auth::client c = b.build();
        alpaca_auth::client d = alpaca_auth::client::from_env();
        int n = static_cast<int>(c.access_token().size() + c.auth_header_lines().size() +
                                 c.header_line(0, buf, sizeof buf));
        c.invalidate();
        c.invalidate_token("t");
        n += static_cast<int>(c.token_remaining_ms()) + c.header_line_nonblocking(0, buf, sizeof buf, length);
        n += static_cast<int>(c.refresher_status().refreshes + c.stats().token_fetches);
        n += static_cast<int>(c.token_store_status());
        n += c.uses_tokens() + static_cast<int>(c.api_base_url().size() + c.data_base_url().size() +
                                                c.token_url().size() + c.environment().size());
        d = std::move(c);
        return n;
    } catch (const alpaca_auth::error &e) {
        return static_cast<int>(e.code()) + e.code_name()[0];
    }
}
#else
static int throwing() { return 0; }
#endif

int main() {
    alpaca_auth::builder b;
    alpaca_auth::client c;
    return non_throwing(b, c) + throwing();
}
