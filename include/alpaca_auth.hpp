// alpaca_auth.hpp: a header-only C++17 wrapper of alpaca_auth.h.
//
//   #include <alpaca_auth.hpp>        // and link with -lalpaca_auth
//
//   auto client = alpaca_auth::builder()
//                     .environment("broker-sandbox")
//                     .client_secret(client_id, secret)
//                     .build();
//   for (const std::string &line : client.auth_header_lines())
//       list = curl_slist_append(list, line.c_str());
//
// * RAII: alpaca_auth::builder and alpaca_auth::client own their C handles;
//   they are move-only and free the handle in their destructor.
// * Errors are exceptions: every failed call throws alpaca_auth::error, a
//   std::runtime_error whose what() is the library's message (with the HTTP
//   status and OAuth error code where there is one, never a secret) and
//   whose code() is the alpaca_auth_result. A moved-from object throws
//   error(ALPACA_AUTH_RESULT_NULL_ARGUMENT) when used.
// * Strings in and out are std::string. A string argument holding a NUL
//   byte is refused with ALPACA_AUTH_RESULT_INVALID_ARGUMENT (it would be
//   cut short in C). Strings returned by access_token() and
//   auth_header_lines() are secrets; std::string does not wipe its memory.
// * A client may be used from many threads at once (all its methods are
//   const); a builder is for one thread at a time.
#ifndef ALPACA_AUTH_HPP
#define ALPACA_AUTH_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "alpaca_auth.h"

namespace alpaca_auth {

/// The result code of a failed call and the library's message.
class error : public std::runtime_error {
  public:
    error(alpaca_auth_result code, const std::string &message)
        : std::runtime_error(message), code_(code) {}

    /// The C result code (ALPACA_AUTH_RESULT_CONFIG, _OAUTH, ...).
    alpaca_auth_result code() const noexcept { return code_; }

    /// A short name of the code ("config", "oauth", ...).
    const char *code_name() const noexcept {
        return alpaca_auth_result_str(static_cast<std::uint32_t>(code_));
    }

  private:
    alpaca_auth_result code_;
};

namespace detail {

/// The calling thread's last error message.
inline std::string last_error_message() {
    std::size_t needed = 0;
    if (alpaca_auth_last_error(nullptr, 0, &needed) != ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL ||
        needed <= 1) {
        return std::string();
    }
    std::string message(needed, '\0');
    if (alpaca_auth_last_error(&message[0], message.size(), &needed) != ALPACA_AUTH_RESULT_OK) {
        return std::string();
    }
    message.resize(needed - 1);
    return message;
}

/// Throws error for anything but ALPACA_AUTH_RESULT_OK.
inline void check(alpaca_auth_result result) {
    if (result != ALPACA_AUTH_RESULT_OK) {
        std::string message = last_error_message();
        if (message.empty()) {
            message = alpaca_auth_result_str(static_cast<std::uint32_t>(result));
        }
        throw error(result, message);
    }
}

/// A std::string as a C string, refusing embedded NUL bytes.
inline const char *c_str(const std::string &value, const char *name) {
    if (value.find('\0') != std::string::npos) {
        throw error(ALPACA_AUTH_RESULT_INVALID_ARGUMENT,
                    std::string(name) + " contains a NUL byte");
    }
    return value.c_str();
}

inline std::uint64_t millis(std::chrono::milliseconds value) {
    if (value.count() < 0) {
        throw error(ALPACA_AUTH_RESULT_INVALID_ARGUMENT, "a timeout cannot be negative");
    }
    return static_cast<std::uint64_t>(value.count());
}

} // namespace detail

/// The library's version, such as "0.1.0".
inline std::string version() { return alpaca_auth_version(); }

/// The calling thread's last error detail ("" if the last call succeeded).
inline std::string last_error() { return detail::last_error_message(); }

/// A client's counters.
using stats = alpaca_auth_stats;

/// An authenticated client: owns an alpaca_auth_client. Move-only; share one
/// among threads (by reference) so they share one cached token.
class client {
  public:
    /// Takes ownership of a C handle (may be nullptr).
    explicit client(alpaca_auth_client *raw) noexcept : raw_(raw) {}

    /// A client from the APCA_* environment variables.
    static client from_env() {
        alpaca_auth_client *raw = nullptr;
        detail::check(alpaca_auth_client_new_from_env(&raw));
        return client(raw);
    }

    client(client &&other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            alpaca_auth_client_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
        }
        return *this;
    }
    client(const client &) = delete;
    client &operator=(const client &) = delete;
    ~client() { alpaca_auth_client_free(raw_); }

    /// The current access token (fetched or refreshed if needed).
    std::string access_token() const {
        std::size_t needed = 0;
        std::string token;
        alpaca_auth_result r = alpaca_auth_client_access_token(raw_, nullptr, 0, &needed);
        // A refresh between two calls may change the length: loop.
        while (r == ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL) {
            token.assign(needed, '\0');
            r = alpaca_auth_client_access_token(raw_, &token[0], token.size(), &needed);
        }
        detail::check(r);
        token.resize(needed - 1);
        return token;
    }

    /// The auth headers as "Name: value" lines, ready for curl_slist_append.
    std::vector<std::string> auth_header_lines() const {
        alpaca_auth_headers *headers = nullptr;
        detail::check(alpaca_auth_client_auth_headers(raw_, &headers));
        std::vector<std::string> lines;
        try {
            std::size_t count = alpaca_auth_headers_count(headers);
            lines.reserve(count);
            for (std::size_t i = 0; i < count; ++i) {
                const char *line = nullptr;
                detail::check(alpaca_auth_headers_line(headers, i, &line));
                lines.emplace_back(line);
            }
        } catch (...) {
            alpaca_auth_headers_free(headers);
            throw;
        }
        alpaca_auth_headers_free(headers);
        return lines;
    }

    /// The number of auth header lines (1 or 2); fixed for the client.
    std::size_t header_count() const noexcept { return alpaca_auth_client_header_count(raw_); }

    /// Copies auth header line `index` ("Name: value", NUL-terminated) into
    /// `buf` of `len` bytes: the allocation-free fast path for the order
    /// path. Returns the line's length without the NUL; throws on failure
    /// (a buffer that is too small included: 2048 bytes is enough).
    std::size_t header_line(std::size_t index, char *buf, std::size_t len) const {
        std::size_t needed = 0;
        detail::check(alpaca_auth_client_header_line(raw_, index, buf, len, &needed));
        return needed - 1;
    }

    /// header_line() that never blocks: false (nothing written) when no
    /// valid token is cached yet (ALPACA_AUTH_RESULT_WOULD_BLOCK); throws on
    /// other failures. `len_out` gets the line's length without the NUL.
    bool try_header_line(std::size_t index, char *buf, std::size_t len, std::size_t &len_out) const {
        std::size_t needed = 0;
        alpaca_auth_result r = alpaca_auth_client_try_header_line(raw_, index, buf, len, &needed);
        if (r == ALPACA_AUTH_RESULT_WOULD_BLOCK) return false;
        detail::check(r);
        len_out = needed - 1;
        return true;
    }

    /// How long the cached token is still handed out, in ms (0: none).
    std::uint64_t token_remaining_ms() const {
        std::uint64_t ms = 0;
        detail::check(alpaca_auth_client_token_remaining_ms(raw_, &ms));
        return ms;
    }

    /// Forgets the cached token (after a 401): the next call fetches anew.
    void invalidate() const { detail::check(alpaca_auth_client_invalidate(raw_)); }

    /// Forgets the cached token only if it is `token_or_header_line` (the
    /// bare token or the "Authorization: Bearer ..." line the API rejected):
    /// many threads reporting the same 401 cause one new token request.
    void invalidate_token(const std::string &token_or_header_line) const {
        detail::check(alpaca_auth_client_invalidate_token(
            raw_, detail::c_str(token_or_header_line, "token_or_header_line")));
    }

    /// The background refresher's status; throws if the client has none.
    /// After a failed refresh (`consecutive_failures > 0`), the reason is
    /// in alpaca_auth::last_error().
    alpaca_auth_refresher_status refresher_status() const {
        alpaca_auth_refresher_status out{};
        detail::check(alpaca_auth_client_refresher_status(raw_, &out));
        return out;
    }

    /// The Trading/Broker API base URL.
    std::string api_base_url() const {
        return borrowed(alpaca_auth_client_api_base_url);
    }
    /// The Market Data API base URL.
    std::string data_base_url() const {
        return borrowed(alpaca_auth_client_data_base_url);
    }
    /// The token endpoint, or "" when there is none.
    std::string token_url() const { return borrowed(alpaca_auth_client_token_url); }
    /// "live", "paper", "broker" or "broker-sandbox".
    std::string environment() const { return borrowed(alpaca_auth_client_environment); }

    /// Whether the client uses OAuth2 access tokens (client credentials).
    bool uses_tokens() const {
        bool uses = false;
        detail::check(alpaca_auth_client_uses_tokens(raw_, &uses));
        return uses;
    }

    /// The client's counters.
    alpaca_auth::stats stats() const {
        alpaca_auth_stats out{};
        detail::check(alpaca_auth_client_stats(raw_, &out));
        return out;
    }

    /// The C handle, still owned by this object.
    const alpaca_auth_client *get() const noexcept { return raw_; }

  private:
    using string_getter = alpaca_auth_result (*)(const alpaca_auth_client *, const char **);
    std::string borrowed(string_getter getter) const {
        const char *value = nullptr;
        detail::check(getter(raw_, &value));
        return value;
    }

    alpaca_auth_client *raw_;
};

/// The configuration of a client: owns an alpaca_auth_builder. Move-only.
/// Setters throw on a refused value and return *this for chaining; build()
/// consumes the configuration (the builder is empty afterwards, even if it
/// throws).
class builder {
  public:
    /// The documented defaults (environment "paper", no credentials).
    builder() { detail::check(alpaca_auth_builder_new(&raw_)); }

    /// The APCA_* environment variables; later setters override them.
    static builder from_env() {
        alpaca_auth_builder *raw = nullptr;
        detail::check(alpaca_auth_builder_new_from_env(&raw));
        return builder(raw);
    }

    builder(builder &&other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
    builder &operator=(builder &&other) noexcept {
        if (this != &other) {
            alpaca_auth_builder_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
        }
        return *this;
    }
    builder(const builder &) = delete;
    builder &operator=(const builder &) = delete;
    ~builder() { alpaca_auth_builder_free(raw_); }

    /// "live", "paper", "broker" or "broker-sandbox".
    builder &environment(const std::string &name) {
        detail::check(alpaca_auth_builder_set_environment(raw_, detail::c_str(name, "name")));
        return *this;
    }
    /// API key pair as APCA-API-KEY-ID / APCA-API-SECRET-KEY headers.
    builder &api_key(const std::string &key_id, const std::string &secret) {
        detail::check(alpaca_auth_builder_set_api_key(raw_, detail::c_str(key_id, "key_id"),
                                                      detail::c_str(secret, "secret")));
        return *this;
    }
    /// API key pair as HTTP Basic (Broker API keys).
    builder &api_key_basic(const std::string &key_id, const std::string &secret) {
        detail::check(alpaca_auth_builder_set_api_key_basic(
            raw_, detail::c_str(key_id, "key_id"), detail::c_str(secret, "secret")));
        return *this;
    }
    /// OAuth2 client credentials, client_secret_post.
    builder &client_secret(const std::string &client_id, const std::string &secret) {
        detail::check(alpaca_auth_builder_set_client_secret(
            raw_, detail::c_str(client_id, "client_id"), detail::c_str(secret, "secret")));
        return *this;
    }
    /// OAuth2 client credentials, private_key_jwt; `key` is PEM text or DER.
    builder &client_private_key(const std::string &client_id, const std::string &key) {
        detail::check(alpaca_auth_builder_set_client_private_key(
            raw_, detail::c_str(client_id, "client_id"),
            reinterpret_cast<const std::uint8_t *>(key.data()), key.size()));
        return *this;
    }
    /// A kid header in client assertions (none by default).
    builder &assertion_kid(const std::string &kid) {
        detail::check(alpaca_auth_builder_set_assertion_kid(raw_, detail::c_str(kid, "kid")));
        return *this;
    }
    builder &api_base_url(const std::string &url) {
        detail::check(alpaca_auth_builder_set_api_base_url(raw_, detail::c_str(url, "url")));
        return *this;
    }
    builder &data_base_url(const std::string &url) {
        detail::check(alpaca_auth_builder_set_data_base_url(raw_, detail::c_str(url, "url")));
        return *this;
    }
    builder &token_url(const std::string &url) {
        detail::check(alpaca_auth_builder_set_token_url(raw_, detail::c_str(url, "url")));
        return *this;
    }
    builder &connect_timeout(std::chrono::milliseconds timeout) {
        detail::check(alpaca_auth_builder_set_connect_timeout_ms(raw_, detail::millis(timeout)));
        return *this;
    }
    builder &request_timeout(std::chrono::milliseconds timeout) {
        detail::check(alpaca_auth_builder_set_request_timeout_ms(raw_, detail::millis(timeout)));
        return *this;
    }
    builder &token_budget(std::chrono::milliseconds budget) {
        detail::check(alpaca_auth_builder_set_token_budget_ms(raw_, detail::millis(budget)));
        return *this;
    }
    /// Trusts the certificates of a PEM bundle besides the webpki roots.
    builder &add_ca_bundle_pem(const std::string &pem) {
        detail::check(alpaca_auth_builder_add_ca_bundle_pem(
            raw_, reinterpret_cast<const std::uint8_t *>(pem.data()), pem.size()));
        return *this;
    }
    builder &proxy(const std::string &url) {
        detail::check(alpaca_auth_builder_set_proxy(raw_, detail::c_str(url, "url")));
        return *this;
    }
    builder &disable_proxy() {
        detail::check(alpaca_auth_builder_disable_proxy(raw_));
        return *this;
    }
    /// A thread owned by the client refreshes the token ahead of expiry.
    /// Longest wait of any call for a token (default: the token budget).
    builder &max_wait(std::chrono::milliseconds wait) {
        detail::check(alpaca_auth_builder_set_max_wait_ms(raw_, detail::millis(wait)));
        return *this;
    }

    builder &background_refresh(bool on) {
        detail::check(alpaca_auth_builder_set_background_refresh(raw_, on));
        return *this;
    }

    /// Validates and creates the client; the builder is empty afterwards.
    alpaca_auth::client build() {
        alpaca_auth_client *raw = nullptr;
        // The C call consumes the builder whatever it returns.
        alpaca_auth_result r = alpaca_auth_builder_build(std::exchange(raw_, nullptr), &raw);
        detail::check(r);
        return alpaca_auth::client(raw);
    }

    /// The C handle, still owned by this object.
    alpaca_auth_builder *get() const noexcept { return raw_; }

  private:
    explicit builder(alpaca_auth_builder *raw) noexcept : raw_(raw) {}
    alpaca_auth_builder *raw_ = nullptr;
};

} // namespace alpaca_auth

#endif // ALPACA_AUTH_HPP
