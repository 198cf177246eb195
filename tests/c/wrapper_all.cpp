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

class fixed_signer : public alpaca_auth::signer {
  public:
    std::string algorithm() const override { return "ES256"; }
    std::string identity() const override { return "kms:key-1"; }
    alpaca_auth_sign_result sign(const std::uint8_t *, std::size_t, std::chrono::milliseconds,
                                 std::vector<std::uint8_t> &signature, std::string &) override {
        signature.assign(64, 1);
        return ALPACA_AUTH_SIGN_RESULT_OK;
    }
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
    failures += alpaca_auth::builder::create(std::nothrow, other) != ALPACA_AUTH_RESULT_OK;
    failures += alpaca_auth::builder::from_env(std::nothrow, other) != ALPACA_AUTH_RESULT_OK;
    failures += b.environment(std::nothrow, "paper") + b.api_key(std::nothrow, "k", "s") + b.api_key_basic(std::nothrow, "k", "s");
    failures += b.client_secret(std::nothrow, "c", "s") + b.client_private_key(std::nothrow, "c", "key");
    failures += b.assertion_kid(std::nothrow, "kid") + b.api_base_url(std::nothrow, "u") + b.data_base_url(std::nothrow, "u");
    failures += b.api_key_headers(std::nothrow, "k", "s") + b.assertion_audience(std::nothrow, "a");
    failures += b.assertion_typ(std::nothrow, "t") + b.assertion_lifetime_s(std::nothrow, 60);
    failures += b.assertion_alg(std::nothrow, "ES256") + b.scope(std::nothrow, "s") + b.token_cache_dir(std::nothrow, "d");
    failures += b.token_url(std::nothrow, "u") + b.connect_timeout(std::nothrow, ms) + b.request_timeout(std::nothrow, ms);
    failures += b.token_budget(std::nothrow, ms) + b.add_ca_bundle_pem(std::nothrow, "pem") + b.proxy(std::nothrow, "u");
    failures += b.token_store(std::nothrow, std::make_shared<null_store>()) + b.tls_roots(std::nothrow, "env");
    failures += b.client_signer(std::nothrow, "c", std::make_shared<fixed_signer>());
    failures += b.add_ca_bundle_file(std::nothrow, "ca.pem");
    failures += b.disable_proxy(std::nothrow) + b.background_refresh(std::nothrow, true) + b.build(std::nothrow, c);
    failures += alpaca_auth::client::from_env(std::nothrow, c);
    failures += c.access_token(std::nothrow, s) + c.auth_header_lines(std::nothrow, lines);
    failures += c.header_line(std::nothrow, 0, buf, sizeof buf, length) + c.invalidate(std::nothrow);
    std::uint64_t remaining = 0;
    failures += c.try_header_line(std::nothrow, 0, buf, sizeof buf, length);
    failures += c.token_remaining_ms(std::nothrow, remaining) + c.invalidate_presented(std::nothrow, "t");
    failures += b.max_wait(std::nothrow, ms);
    failures += b.event_callback(std::nothrow, [](const alpaca_auth::event &) {});
    failures += b.event_callback(std::nothrow, alpaca_auth::event_handler());
    failures += c.market_data_stream_base(std::nothrow, s) + c.trade_updates_stream_url(std::nothrow, s);
    failures += c.stream_auth_message(std::nothrow, buf, sizeof buf, length);
    failures += c.refresher_status(std::nothrow, status) + c.stats(std::nothrow, counters) + c.uses_tokens(std::nothrow, flag);
    alpaca_auth_store_status store_status = ALPACA_AUTH_STORE_STATUS_NONE;
    failures += c.token_store_status(std::nothrow, store_status);
    failures += c.api_base_url(std::nothrow, s) + c.data_base_url(std::nothrow, s) + c.token_url(std::nothrow, s);
    failures += c.environment(std::nothrow, s) + static_cast<int>(c.header_count());
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
        b.client_signer("c", std::make_shared<fixed_signer>());
        b.event_callback([](const alpaca_auth::event &e) { (void)e.kind; });
        b.add_ca_bundle_pem("p").proxy("u").disable_proxy().background_refresh(false);
        b.tls_roots("bundled").add_ca_bundle_file("ca.pem");
        alpaca_auth::client c = b.build();
        alpaca_auth::client d = alpaca_auth::client::from_env();
        int n = static_cast<int>(c.access_token().size() + c.auth_header_lines().size() +
                                 c.header_line(0, buf, sizeof buf));
        c.invalidate();
        c.invalidate_presented("t");
        n += static_cast<int>(c.token_remaining_ms()) + c.try_header_line(0, buf, sizeof buf, length);
        n += static_cast<int>(c.refresher_status().refreshes + c.stats().token_fetches);
        n += static_cast<int>(c.token_store_status());
        n += c.uses_tokens() + static_cast<int>(c.api_base_url().size() + c.data_base_url().size() +
                                                c.token_url().size() + c.environment().size());
        n += static_cast<int>(c.market_data_stream_base().size() + c.trade_updates_stream_url().size() +
                              c.stream_auth_message(buf, sizeof buf));
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
