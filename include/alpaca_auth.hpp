// alpaca_auth.hpp: a header-only C++11 wrapper of alpaca_auth.h.
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
// * Needs C++11 (tested with C++11, 14, 17 and 20).
// * RAII: alpaca_auth::builder and alpaca_auth::client own their C handles;
//   they are move-only and free the handle in their destructor. release()
//   hands the handle over; `explicit operator bool` says whether there is one.
// * A moved-from (or released) object holds no handle: every call on it
//   fails with ALPACA_AUTH_RESULT_NULL_ARGUMENT (it throws that code, or
//   its try_ method returns it); destroying or assigning to it is fine.
// * Two ways to handle errors, side by side:
//   - try_ methods return the alpaca_auth_result and write their output
//     through a reference, only on ALPACA_AUTH_RESULT_OK. They never throw
//     alpaca_auth::error, and are all there is when the program is built
//     with -fno-exceptions (the throwing methods below are compiled out when
//     __cpp_exceptions is not defined). alpaca_auth::last_error() gives the
//     detail of a failed call.
//   - The other methods throw alpaca_auth::error, a std::runtime_error whose
//     what() is the library's message (with the HTTP status and OAuth error
//     code where there is one, never a secret) and whose code() is the
//     alpaca_auth_result.
// * Strings in and out are std::string. A string argument holding a NUL
//   byte is refused with ALPACA_AUTH_RESULT_INVALID_ARGUMENT (it would be
//   cut short in C). Strings returned by access_token() and
//   auth_header_lines() are secrets; std::string does not wipe its memory:
//   header_line() into a buffer of one's own avoids the copy.
// * A client may be used from many threads at once (all its methods are
//   const); a builder is for one thread at a time.
#ifndef ALPACA_AUTH_HPP
#define ALPACA_AUTH_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "alpaca_auth.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define ALPACA_AUTH_HPP_EXCEPTIONS 1
#include <stdexcept>
#else
#define ALPACA_AUTH_HPP_EXCEPTIONS 0
#endif

namespace alpaca_auth {

/// The result code of a call: ALPACA_AUTH_RESULT_OK (0) or the reason.
using result = alpaca_auth_result;

namespace detail {

/// `std::exchange` for C++11.
template <typename T> inline T take(T &slot) noexcept {
    T value = slot;
    slot = nullptr;
    return value;
}

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

/// Whether a std::string can go to C unchanged (no NUL byte inside).
inline bool c_safe(const std::string &value) noexcept {
    return value.find('\0') == std::string::npos;
}

inline bool millis(std::chrono::milliseconds value, std::uint64_t &out) noexcept {
    if (value.count() < 0) {
        return false;
    }
    out = static_cast<std::uint64_t>(value.count());
    return true;
}

/// A copy-out into a std::string; the length may change between the length
/// query and the copy (a refresh), so loop while the buffer is too small.
template <typename Copy> inline result copy_string(std::string &out, Copy copy) {
    std::size_t needed = 0;
    std::string value;
    result r = copy(nullptr, 0, &needed);
    while (r == ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL) {
        value.assign(needed, '\0');
        r = copy(&value[0], value.size(), &needed);
    }
    if (r == ALPACA_AUTH_RESULT_OK) {
        value.resize(needed - 1);
        out.swap(value);
    }
    return r;
}

} // namespace detail

/// The library's version, such as "0.1.0".
inline std::string version() { return alpaca_auth_version(); }

/// Whether the loaded library is at least as new as this header (a program
/// can refuse to start otherwise).
inline bool library_is_compatible() noexcept {
    return alpaca_auth_version_number() >= ALPACA_AUTH_VERSION_NUMBER;
}

/// The calling thread's last error detail ("" if the last call succeeded).
inline std::string last_error() { return detail::last_error_message(); }

/// A short name of a result code ("ok", "config", "oauth", ...).
inline const char *result_name(result code) noexcept {
    return alpaca_auth_result_str(static_cast<std::uint32_t>(code));
}

#if ALPACA_AUTH_HPP_EXCEPTIONS
/// The result code of a failed call and the library's message.
class error : public std::runtime_error {
  public:
    error(result code, const std::string &message) : std::runtime_error(message), code_(code) {}

    /// The C result code (ALPACA_AUTH_RESULT_CONFIG, _OAUTH, ...).
    result code() const noexcept { return code_; }

    /// A short name of the code ("config", "oauth", ...).
    const char *code_name() const noexcept { return result_name(code_); }

  private:
    result code_;
};

namespace detail {
/// Throws error for anything but ALPACA_AUTH_RESULT_OK.
inline void check(result r) {
    if (r != ALPACA_AUTH_RESULT_OK) {
        std::string message = last_error_message();
        if (message.empty()) {
            message = result_name(r);
        }
        throw error(r, message);
    }
}
} // namespace detail
#endif

/// A client's counters (struct_size already set).
struct stats : alpaca_auth_stats {
    stats() noexcept : alpaca_auth_stats() { struct_size = sizeof(alpaca_auth_stats); }
};

/// The background refresher's status (struct_size already set).
struct refresher_status : alpaca_auth_refresher_status {
    refresher_status() noexcept : alpaca_auth_refresher_status() {
        struct_size = sizeof(alpaca_auth_refresher_status);
    }
};

/// A token store shared by processes (a cache on another host, say):
/// subclass it and give it to builder::token_store. The methods are called
/// on the slow path only, from any thread, possibly at the same time: make
/// them thread-safe. They must not throw; any result other than
/// ALPACA_AUTH_RESULT_OK makes the library fetch the token itself. See
/// alpaca_auth_token_store in alpaca_auth.h for each call's contract.
class token_store {
  public:
    /// A stored token: the access token, its expiry (Unix milliseconds) and
    /// the lifetime it was granted with (milliseconds).
    struct entry {
        std::string access_token;
        std::uint64_t expires_at_unix_ms = 0;
        std::uint64_t lifetime_ms = 0;
    };

    virtual ~token_store() = default;
    /// The entry of `key`; `found = false` when there is none.
    virtual result load(const char *key, entry &out, bool &found) noexcept = 0;
    /// Stores the entry of `key`, replacing any other.
    virtual result publish(const char *key, const entry &value) noexcept = 0;
    /// Takes the fetch lock of `key` without waiting.
    virtual result try_lock(const char *key, bool &acquired) noexcept = 0;
    /// Releases the fetch lock this process took.
    virtual result unlock(const char *key) noexcept = 0;
    /// Removes the entry of `key` if it still holds `token`.
    virtual result remove_if(const char *key, const char *token) noexcept {
        (void)key;
        (void)token;
        return ALPACA_AUTH_RESULT_OK;
    }
};

namespace detail {

/// The C callbacks of a token_store: user_data is a heap copy of the
/// shared_ptr, freed by free_user_data.
struct store_trampolines {
    using holder = std::shared_ptr<token_store>;
    static token_store &of(void *user_data) noexcept { return **static_cast<holder *>(user_data); }

    static std::uint32_t load(void *user_data, const char *key, char *buf, std::size_t len,
                                   std::size_t *len_out, std::uint64_t *expires_out,
                                   std::uint64_t *lifetime_out) noexcept {
        token_store::entry value;
        bool found = false;
        *len_out = 0;
        result r = of(user_data).load(key, value, found);
        if (r != ALPACA_AUTH_RESULT_OK || !found) {
            return static_cast<std::uint32_t>(r);
        }
        if (value.access_token.size() >= len) {
            return static_cast<std::uint32_t>(ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL);
        }
        std::memcpy(buf, value.access_token.data(), value.access_token.size());
        *len_out = value.access_token.size();
        *expires_out = value.expires_at_unix_ms;
        *lifetime_out = value.lifetime_ms;
        return static_cast<std::uint32_t>(ALPACA_AUTH_RESULT_OK);
    }
    static std::uint32_t publish(void *user_data, const char *key, const char *token,
                                      std::uint64_t expires_at_unix_ms,
                                      std::uint64_t lifetime_ms) noexcept {
        token_store::entry value;
        value.access_token = token;
        value.expires_at_unix_ms = expires_at_unix_ms;
        value.lifetime_ms = lifetime_ms;
        return static_cast<std::uint32_t>(of(user_data).publish(key, value));
    }
    static std::uint32_t try_lock(void *user_data, const char *key,
                                       bool *acquired) noexcept {
        return static_cast<std::uint32_t>(of(user_data).try_lock(key, *acquired));
    }
    static std::uint32_t unlock(void *user_data, const char *key) noexcept {
        return static_cast<std::uint32_t>(of(user_data).unlock(key));
    }
    static std::uint32_t remove_if(void *user_data, const char *key,
                                        const char *token) noexcept {
        return static_cast<std::uint32_t>(of(user_data).remove_if(key, token));
    }
    static void free_user_data(void *user_data) noexcept { delete static_cast<holder *>(user_data); }
};

} // namespace detail

/// An authenticated client: owns an alpaca_auth_client. Move-only; share one
/// among threads (by reference) so they share one cached token.
class client {
  public:
    /// Takes ownership of a C handle (may be nullptr).
    explicit client(alpaca_auth_client *raw = nullptr) noexcept : raw_(raw) {}

    client(client &&other) noexcept : raw_(detail::take(other.raw_)) {}
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            alpaca_auth_client_free(raw_);
            raw_ = detail::take(other.raw_);
        }
        return *this;
    }
    client(const client &) = delete;
    client &operator=(const client &) = delete;
    ~client() { alpaca_auth_client_free(raw_); }

    /// Whether this object holds a client (false after a move or release()).
    explicit operator bool() const noexcept { return raw_ != nullptr; }

    /// The C handle, still owned by this object.
    const alpaca_auth_client *get() const noexcept { return raw_; }

    /// Gives up ownership: the caller frees the handle with
    /// alpaca_auth_client_free.
    alpaca_auth_client *release() noexcept { return detail::take(raw_); }

    // --- non-throwing interface ---

    /// A client from the APCA_* environment variables.
    static result try_from_env(client &out) noexcept {
        alpaca_auth_client *raw = nullptr;
        result r = alpaca_auth_client_new_from_env(&raw);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = client(raw);
        }
        return r;
    }

    /// The current access token (fetched or refreshed if needed).
    result try_access_token(std::string &out) const {
        const alpaca_auth_client *raw = raw_;
        return detail::copy_string(out, [raw](char *buf, std::size_t len, std::size_t *needed) {
            return alpaca_auth_client_access_token(raw, buf, len, needed);
        });
    }

    /// The auth headers as "Name: value" lines, ready for curl_slist_append.
    result try_auth_header_lines(std::vector<std::string> &out) const {
        alpaca_auth_headers *headers = nullptr;
        result r = alpaca_auth_client_auth_headers(raw_, &headers);
        if (r != ALPACA_AUTH_RESULT_OK) {
            return r;
        }
        std::vector<std::string> lines;
        const std::size_t count = alpaca_auth_headers_count(headers);
        lines.reserve(count);
        for (std::size_t i = 0; i < count && r == ALPACA_AUTH_RESULT_OK; ++i) {
            const char *line = nullptr;
            r = alpaca_auth_headers_line(headers, i, &line);
            if (r == ALPACA_AUTH_RESULT_OK) {
                lines.emplace_back(line);
            }
        }
        alpaca_auth_headers_free(headers);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out.swap(lines);
        }
        return r;
    }

    /// Copies auth header line `index` ("Name: value", NUL-terminated) into
    /// `buf` of `len` bytes: the allocation-free fast path. Like
    /// header_line() (this is its non-throwing form) it waits for a token
    /// when none is cached; the call that never waits is
    /// try_header_line_nonblocking() (C: alpaca_auth_client_try_header_line). `length_out` receives the line's length without the NUL. A
    /// buffer of ALPACA_AUTH_MAX_HEADER_LINE bytes is always large enough.
    result try_header_line(std::size_t index, char *buf, std::size_t len,
                           std::size_t &length_out) const noexcept {
        std::size_t needed = 0;
        result r = alpaca_auth_client_header_line(raw_, index, buf, len, &needed);
        if (r == ALPACA_AUTH_RESULT_OK) {
            length_out = needed - 1;
        }
        return r;
    }

    /// header_line that never blocks and never fetches on this thread:
    /// ALPACA_AUTH_RESULT_WOULD_BLOCK (nothing written) when no valid token
    /// is cached yet. For the order path.
    result try_header_line_nonblocking(std::size_t index, char *buf, std::size_t len,
                                       std::size_t &length_out) const noexcept {
        std::size_t needed = 0;
        result r = alpaca_auth_client_try_header_line(raw_, index, buf, len, &needed);
        if (r == ALPACA_AUTH_RESULT_OK) {
            length_out = needed - 1;
        }
        return r;
    }

    /// How long the cached token is still handed out, in ms (0: none).
    result try_token_remaining_ms(std::uint64_t &out) const noexcept {
        return alpaca_auth_client_token_remaining_ms(raw_, &out);
    }

    /// Forgets the cached token (after a 401): the next call fetches anew.
    result try_invalidate() const noexcept { return alpaca_auth_client_invalidate(raw_); }

    /// Forgets the cached token only if it is `token_or_header_line` (the
    /// bare token or the "Authorization: Bearer ..." line the API rejected):
    /// many threads reporting the same 401 cause one new token request.
    result try_invalidate_token(const std::string &token_or_header_line) const noexcept {
        if (!detail::c_safe(token_or_header_line)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return alpaca_auth_client_invalidate_token(raw_, token_or_header_line.c_str());
    }

    /// The background refresher's status (ALPACA_AUTH_RESULT_CONFIG if the
    /// client has none).
    result try_refresher_status(alpaca_auth::refresher_status &out) const noexcept {
        alpaca_auth::refresher_status status;
        result r = alpaca_auth_client_refresher_status(raw_, &status);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = status;
        }
        return r;
    }

    /// The client's counters.
    result try_stats(alpaca_auth::stats &out) const noexcept {
        alpaca_auth::stats counters;
        result r = alpaca_auth_client_stats(raw_, &counters);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = counters;
        }
        return r;
    }

    /// Whether the client uses OAuth2 access tokens (client credentials).
    result try_uses_tokens(bool &out) const noexcept {
        return alpaca_auth_client_uses_tokens(raw_, &out);
    }

    /// Whether the client shares tokens through its token store; UNAVAILABLE
    /// when a configured store was refused at build (the reason is then in
    /// the thread's last error, alpaca_auth::last_error()).
    result try_token_store_status(alpaca_auth_store_status &out) const noexcept {
        return alpaca_auth_client_token_store_status(raw_, &out);
    }

    /// The Trading/Broker API base URL.
    result try_api_base_url(std::string &out) const {
        return borrowed(alpaca_auth_client_api_base_url, out);
    }
    /// The Market Data API base URL.
    result try_data_base_url(std::string &out) const {
        return borrowed(alpaca_auth_client_data_base_url, out);
    }
    /// The token endpoint, or "" when there is none.
    result try_token_url(std::string &out) const {
        return borrowed(alpaca_auth_client_token_url, out);
    }
    /// "live", "paper", "broker" or "broker-sandbox".
    result try_environment(std::string &out) const {
        return borrowed(alpaca_auth_client_environment, out);
    }

    /// The number of auth header lines (1 or 2); fixed for the client.
    std::size_t header_count() const noexcept { return alpaca_auth_client_header_count(raw_); }

#if ALPACA_AUTH_HPP_EXCEPTIONS
    // --- throwing interface: the same calls, alpaca_auth::error on failure ---

    /// A client from the APCA_* environment variables.
    static client from_env() {
        client out;
        detail::check(try_from_env(out));
        return out;
    }
    std::string access_token() const {
        std::string token;
        detail::check(try_access_token(token));
        return token;
    }
    std::vector<std::string> auth_header_lines() const {
        std::vector<std::string> lines;
        detail::check(try_auth_header_lines(lines));
        return lines;
    }
    /// Returns the line's length without the NUL.
    std::size_t header_line(std::size_t index, char *buf, std::size_t len) const {
        std::size_t length = 0;
        detail::check(try_header_line(index, buf, len, length));
        return length;
    }
    /// header_line that never blocks: false (nothing written) when no
    /// valid token is cached yet; throws on other failures.
    bool header_line_nonblocking(std::size_t index, char *buf, std::size_t len,
                                 std::size_t &length_out) const {
        result r = try_header_line_nonblocking(index, buf, len, length_out);
        if (r == ALPACA_AUTH_RESULT_WOULD_BLOCK) {
            return false;
        }
        detail::check(r);
        return true;
    }
    std::uint64_t token_remaining_ms() const {
        std::uint64_t ms = 0;
        detail::check(try_token_remaining_ms(ms));
        return ms;
    }
    void invalidate() const { detail::check(try_invalidate()); }
    void invalidate_token(const std::string &token_or_header_line) const {
        detail::check(try_invalidate_token(token_or_header_line));
    }
    /// After a failed refresh (`consecutive_failures > 0`), the reason is in
    /// alpaca_auth::last_error().
    alpaca_auth::refresher_status refresher_status() const {
        alpaca_auth::refresher_status out;
        detail::check(try_refresher_status(out));
        return out;
    }
    alpaca_auth::stats stats() const {
        alpaca_auth::stats out;
        detail::check(try_stats(out));
        return out;
    }
    bool uses_tokens() const {
        bool uses = false;
        detail::check(try_uses_tokens(uses));
        return uses;
    }
    alpaca_auth_store_status token_store_status() const {
        alpaca_auth_store_status status = ALPACA_AUTH_STORE_STATUS_NONE;
        detail::check(try_token_store_status(status));
        return status;
    }
    std::string api_base_url() const { return checked(&client::try_api_base_url); }
    std::string data_base_url() const { return checked(&client::try_data_base_url); }
    std::string token_url() const { return checked(&client::try_token_url); }
    std::string environment() const { return checked(&client::try_environment); }
#endif

  private:
    using string_getter = result (*)(const alpaca_auth_client *, const char **);
    result borrowed(string_getter getter, std::string &out) const {
        const char *value = nullptr;
        result r = getter(raw_, &value);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = value;
        }
        return r;
    }
#if ALPACA_AUTH_HPP_EXCEPTIONS
    std::string checked(result (client::*getter)(std::string &) const) const {
        std::string value;
        detail::check((this->*getter)(value));
        return value;
    }
#endif

    alpaca_auth_client *raw_;
};

/// The configuration of a client: owns an alpaca_auth_builder. Move-only.
/// Each setting has a try_ method that returns the result code and a
/// throwing one that returns *this for chaining. Building consumes the
/// configuration: the builder is empty afterwards, whatever the outcome.
class builder {
  public:
    /// The documented defaults (environment "paper", no credentials). If
    /// that fails (out of memory), it throws, or without exceptions the
    /// object is empty (`explicit operator bool` is false).
    builder() {
        result r = alpaca_auth_builder_new(&raw_);
#if ALPACA_AUTH_HPP_EXCEPTIONS
        detail::check(r);
#else
        (void)r;
#endif
    }

#if ALPACA_AUTH_HPP_EXCEPTIONS
    /// The APCA_* environment variables; later setters override them.
    static builder from_env() {
        builder out(nullptr);
        detail::check(try_from_env(out));
        return out;
    }
#endif
    /// Takes ownership of a C handle (may be nullptr).
    explicit builder(alpaca_auth_builder *raw) noexcept : raw_(raw) {}

    /// A builder with the documented defaults.
    static result try_new(builder &out) noexcept { return adopt(alpaca_auth_builder_new, out); }
    /// A builder from the APCA_* environment variables.
    static result try_from_env(builder &out) noexcept {
        return adopt(alpaca_auth_builder_new_from_env, out);
    }

    builder(builder &&other) noexcept : raw_(detail::take(other.raw_)) {}
    builder &operator=(builder &&other) noexcept {
        if (this != &other) {
            alpaca_auth_builder_free(raw_);
            raw_ = detail::take(other.raw_);
        }
        return *this;
    }
    builder(const builder &) = delete;
    builder &operator=(const builder &) = delete;
    ~builder() { alpaca_auth_builder_free(raw_); }

    /// Whether this object holds a builder (false after a move, release()
    /// or build()).
    explicit operator bool() const noexcept { return raw_ != nullptr; }

    /// The C handle, still owned by this object.
    alpaca_auth_builder *get() const noexcept { return raw_; }

    /// Gives up ownership: the caller frees the handle with
    /// alpaca_auth_builder_free (or builds it).
    alpaca_auth_builder *release() noexcept { return detail::take(raw_); }

    // --- non-throwing interface ---

    /// "live", "paper", "broker" or "broker-sandbox".
    result try_environment(const std::string &name) noexcept {
        return set(alpaca_auth_builder_set_environment, name);
    }
    /// API key pair in the environment's form: HTTP Basic in broker and
    /// broker-sandbox, APCA-API-KEY-ID / APCA-API-SECRET-KEY headers otherwise.
    result try_api_key(const std::string &key_id, const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_api_key, key_id, secret);
    }
    /// API key pair as APCA-API-KEY-ID / APCA-API-SECRET-KEY headers, in any
    /// environment.
    result try_api_key_headers(const std::string &key_id, const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_api_key_headers, key_id, secret);
    }
    /// API key pair as HTTP Basic (Broker API keys).
    result try_api_key_basic(const std::string &key_id, const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_api_key_basic, key_id, secret);
    }
    /// OAuth2 client credentials, client_secret_post.
    result try_client_secret(const std::string &client_id, const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_client_secret, client_id, secret);
    }
    /// OAuth2 client credentials, private_key_jwt; `key` is PEM text or DER.
    result try_client_private_key(const std::string &client_id, const std::string &key) noexcept {
        if (!detail::c_safe(client_id)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return alpaca_auth_builder_set_client_private_key(
            raw_, client_id.c_str(), reinterpret_cast<const std::uint8_t *>(key.data()),
            key.size());
    }
    /// A kid header in client assertions (none by default).
    result try_assertion_kid(const std::string &kid) noexcept {
        return set(alpaca_auth_builder_set_assertion_kid, kid);
    }
    /// The assertion's exact `aud` (default: the token URL).
    result try_assertion_audience(const std::string &aud) noexcept {
        return set(alpaca_auth_builder_set_assertion_audience, aud);
    }
    /// The assertion's `typ` header ("JWT" by default, or
    /// "client-authentication+jwt").
    result try_assertion_typ(const std::string &typ) noexcept {
        return set(alpaca_auth_builder_set_assertion_typ, typ);
    }
    /// The assertion's lifetime in seconds.
    result try_assertion_lifetime_s(std::uint64_t seconds) noexcept {
        return alpaca_auth_builder_set_assertion_lifetime_s(raw_, seconds);
    }
    /// The signing algorithm ("PS256" for an RSA key, "Ed25519", ...).
    result try_assertion_alg(const std::string &alg) noexcept {
        return set(alpaca_auth_builder_set_assertion_alg, alg);
    }
    /// The `scope` of token requests (space-separated).
    result try_scope(const std::string &scope) noexcept {
        return set(alpaca_auth_builder_set_scope, scope);
    }
    /// Shares tokens with this user's other processes through a private
    /// directory (see alpaca_auth_builder_set_token_cache_dir).
    result try_token_cache_dir(const std::string &dir) noexcept {
        return set(alpaca_auth_builder_set_token_cache_dir, dir);
    }
    /// Shares tokens through a store of the application's; the client keeps
    /// a reference to it for its life.
    result try_token_store(std::shared_ptr<alpaca_auth::token_store> store) {
        if (!store) {
            return ALPACA_AUTH_RESULT_NULL_ARGUMENT;
        }
        using tramp = detail::store_trampolines;
        alpaca_auth_token_store callbacks;
        std::memset(&callbacks, 0, sizeof callbacks);
        callbacks.struct_size = sizeof callbacks;
        callbacks.user_data = new tramp::holder(std::move(store));
        callbacks.load = &tramp::load;
        callbacks.publish = &tramp::publish;
        callbacks.try_lock = &tramp::try_lock;
        callbacks.unlock = &tramp::unlock;
        callbacks.remove_if = &tramp::remove_if;
        callbacks.free_user_data = &tramp::free_user_data;
        result r = alpaca_auth_builder_set_token_store(raw_, &callbacks);
        if (r != ALPACA_AUTH_RESULT_OK) {
            tramp::free_user_data(callbacks.user_data); // not kept by the library
        }
        return r;
    }
    result try_api_base_url(const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_api_base_url, url);
    }
    result try_data_base_url(const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_data_base_url, url);
    }
    result try_token_url(const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_token_url, url);
    }
    result try_connect_timeout(std::chrono::milliseconds timeout) noexcept {
        return set_ms(alpaca_auth_builder_set_connect_timeout_ms, timeout);
    }
    result try_request_timeout(std::chrono::milliseconds timeout) noexcept {
        return set_ms(alpaca_auth_builder_set_request_timeout_ms, timeout);
    }
    result try_token_budget(std::chrono::milliseconds budget) noexcept {
        return set_ms(alpaca_auth_builder_set_token_budget_ms, budget);
    }
    /// Trusts the certificates of a PEM bundle besides the webpki roots.
    result try_add_ca_bundle_pem(const std::string &pem) noexcept {
        return alpaca_auth_builder_add_ca_bundle_pem(
            raw_, reinterpret_cast<const std::uint8_t *>(pem.data()), pem.size());
    }
    /// Trusts the certificates of a PEM file besides the roots.
    result try_add_ca_bundle_file(const std::string &path) noexcept {
        return set(alpaca_auth_builder_add_ca_bundle_file, path);
    }
    result try_proxy(const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_proxy, url);
    }
    /// `env` (default), `bundled` or `platform`: alpaca_auth_builder_set_tls_roots.
    result try_tls_roots(const std::string &name) noexcept {
        return set(alpaca_auth_builder_set_tls_roots, name);
    }
    result try_disable_proxy() noexcept { return alpaca_auth_builder_disable_proxy(raw_); }
    /// A thread owned by the client refreshes the token ahead of expiry.
    result try_background_refresh(bool on) noexcept {
        return alpaca_auth_builder_set_background_refresh(raw_, on);
    }
    /// The longest any call waits for a token (default: the token budget).
    result try_max_wait(std::chrono::milliseconds wait) noexcept {
        return set_ms(alpaca_auth_builder_set_max_wait_ms, wait);
    }

    /// Validates and creates the client; the builder is empty afterwards.
    result try_build(client &out) noexcept {
        alpaca_auth_client *raw = nullptr;
        // The C call consumes the builder whatever it returns.
        result r = alpaca_auth_builder_build(detail::take(raw_), &raw);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = client(raw);
        }
        return r;
    }

#if ALPACA_AUTH_HPP_EXCEPTIONS
    // --- throwing interface: the same settings, chained ---

    builder &environment(const std::string &name) { return chain(try_environment(name)); }
    builder &api_key(const std::string &key_id, const std::string &secret) {
        return chain(try_api_key(key_id, secret));
    }
    builder &api_key_basic(const std::string &key_id, const std::string &secret) {
        return chain(try_api_key_basic(key_id, secret));
    }
    builder &client_secret(const std::string &client_id, const std::string &secret) {
        return chain(try_client_secret(client_id, secret));
    }
    builder &client_private_key(const std::string &client_id, const std::string &key) {
        return chain(try_client_private_key(client_id, key));
    }
    builder &api_key_headers(const std::string &key_id, const std::string &secret) {
        return chain(try_api_key_headers(key_id, secret));
    }
    builder &assertion_kid(const std::string &kid) { return chain(try_assertion_kid(kid)); }
    builder &assertion_audience(const std::string &aud) {
        return chain(try_assertion_audience(aud));
    }
    builder &assertion_typ(const std::string &typ) { return chain(try_assertion_typ(typ)); }
    builder &assertion_lifetime_s(std::uint64_t seconds) {
        return chain(try_assertion_lifetime_s(seconds));
    }
    builder &assertion_alg(const std::string &alg) { return chain(try_assertion_alg(alg)); }
    builder &scope(const std::string &scope) { return chain(try_scope(scope)); }
    builder &token_cache_dir(const std::string &dir) { return chain(try_token_cache_dir(dir)); }
    builder &token_store(std::shared_ptr<alpaca_auth::token_store> store) {
        return chain(try_token_store(std::move(store)));
    }
    builder &api_base_url(const std::string &url) { return chain(try_api_base_url(url)); }
    builder &data_base_url(const std::string &url) { return chain(try_data_base_url(url)); }
    builder &token_url(const std::string &url) { return chain(try_token_url(url)); }
    builder &connect_timeout(std::chrono::milliseconds timeout) {
        return chain(try_connect_timeout(timeout));
    }
    builder &request_timeout(std::chrono::milliseconds timeout) {
        return chain(try_request_timeout(timeout));
    }
    builder &token_budget(std::chrono::milliseconds budget) {
        return chain(try_token_budget(budget));
    }
    builder &add_ca_bundle_pem(const std::string &pem) { return chain(try_add_ca_bundle_pem(pem)); }
    builder &add_ca_bundle_file(const std::string &path) {
        return chain(try_add_ca_bundle_file(path));
    }
    builder &proxy(const std::string &url) { return chain(try_proxy(url)); }
    builder &tls_roots(const std::string &name) { return chain(try_tls_roots(name)); }
    builder &disable_proxy() { return chain(try_disable_proxy()); }
    builder &background_refresh(bool on) { return chain(try_background_refresh(on)); }
    builder &max_wait(std::chrono::milliseconds wait) { return chain(try_max_wait(wait)); }

    /// Validates and creates the client; the builder is empty afterwards.
    alpaca_auth::client build() {
        alpaca_auth::client out;
        detail::check(try_build(out));
        return out;
    }
#endif

  private:
    static result adopt(result (*make)(alpaca_auth_builder **), builder &out) noexcept {
        alpaca_auth_builder *raw = nullptr;
        result r = make(&raw);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = builder(raw);
        }
        return r;
    }
    result set(result (*setter)(alpaca_auth_builder *, const char *),
               const std::string &value) noexcept {
        if (!detail::c_safe(value)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return setter(raw_, value.c_str());
    }
    result set(result (*setter)(alpaca_auth_builder *, const char *, const char *),
               const std::string &first, const std::string &second) noexcept {
        if (!detail::c_safe(first) || !detail::c_safe(second)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return setter(raw_, first.c_str(), second.c_str());
    }
    result set_ms(result (*setter)(alpaca_auth_builder *, std::uint64_t),
                  std::chrono::milliseconds value) noexcept {
        std::uint64_t ms = 0;
        if (!detail::millis(value, ms)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return setter(raw_, ms);
    }
#if ALPACA_AUTH_HPP_EXCEPTIONS
    builder &chain(result r) {
        detail::check(r);
        return *this;
    }
#endif

    alpaca_auth_builder *raw_ = nullptr;
};

} // namespace alpaca_auth

#endif // ALPACA_AUTH_HPP
