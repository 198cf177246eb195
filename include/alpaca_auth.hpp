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
//   its std::nothrow form returns it); destroying or assigning to it is fine.
// * Two ways to handle errors, side by side, for every call:
//   - The plain form throws alpaca_auth::error, a std::runtime_error whose
//     what() is the library's message (with the HTTP status and OAuth error
//     code where there is one, never a secret) and whose code() is the
//     alpaca_auth_result: `client.access_token()`.
//   - The same call with std::nothrow as its first argument returns the
//     alpaca_auth_result and writes its output through a reference, only on
//     ALPACA_AUTH_RESULT_OK: `client.access_token(std::nothrow, token)`. It
//     never throws alpaca_auth::error, and these forms are all there is
//     when the program is built with -fno-exceptions (the throwing forms
//     are compiled out when __cpp_exceptions is not defined).
//     alpaca_auth::last_error() gives the detail of a failed call.
// * try_ means "does not block", as in C and Rust (the rule is in the
//   crate docs, "Which thread sends a token request"): try_header_line
//   never waits for a token and never sends a request on the calling
//   thread; it is alpaca_auth_client_try_header_line.
// * Strings in and out are std::string. A string argument holding a NUL
//   byte is refused with ALPACA_AUTH_RESULT_INVALID_ARGUMENT (it would be
//   cut short in C). Strings returned by access_token() and
//   auth_header_lines() are secrets; std::string does not wipe its memory:
//   header_line() into a buffer of one's own avoids the copy.
//   stream_auth_message() (it holds the API secret) writes only into a
//   buffer of the caller's.
// * A client may be used from many threads at once (all its methods are
//   const); a builder is for one thread at a time.
#ifndef ALPACA_AUTH_HPP
#define ALPACA_AUTH_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
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

/// The calling thread's last error detail: "" after a call that succeeded,
/// except the two status calls that report a reason with success (the rule
/// is on alpaca_auth_last_error in alpaca_auth.h).
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

/// The doctor's report (alpaca_auth_doctor_report): runs every check with
/// the process environment (the APCA_*, proxy and SSL_CERT_* variables) and
/// returns the report as "text" (one line per check) or "json"; `failures`
/// (if not null) receives the number of failed checks, 0 when
/// authentication works on this host. Blocks for the network steps. A
/// failed check is in the report, not an error; without exceptions, the
/// form taking std::nothrow returns the result code instead.
inline result doctor_report(std::nothrow_t, const std::string &format, std::string &out,
                            std::size_t *failures = nullptr) {
    if (!detail::c_safe(format)) {
        return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
    }
    std::string report(ALPACA_AUTH_MAX_DOCTOR_REPORT, '\0');
    std::size_t needed = 0;
    result r = alpaca_auth_doctor_report(format.c_str(), &report[0], report.size(), &needed,
                                         failures);
    if (r == ALPACA_AUTH_RESULT_OK) {
        report.resize(needed - 1);
        out.swap(report);
    }
    return r;
}

#if ALPACA_AUTH_HPP_EXCEPTIONS
/// The doctor's report (see the std::nothrow form); throws error for a bad
/// format.
inline std::string doctor_report(const std::string &format = "text",
                                 std::size_t *failures = nullptr) {
    std::string out;
    detail::check(doctor_report(std::nothrow, format, out, failures));
    return out;
}
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

/// An external signer of client assertions, for a key the library never
/// sees (an HSM, a cloud KMS, a signing service): subclass it and give it
/// to builder::client_signer. The library builds each assertion and calls
/// sign() for its signature, on the slow path only, from any thread,
/// possibly at the same time: make it thread-safe, and return within
/// `time_left`. It must not call back into the client. An exception thrown
/// by sign() is caught by the wrapper and reported as
/// ALPACA_AUTH_RESULT_INVALID_KEY. See alpaca_auth_signer in alpaca_auth.h.
class signer {
  public:
    virtual ~signer() = default;
    /// The JOSE name of the algorithm ("ES256", "RS256", "PS256", "EdDSA",
    /// "Ed25519").
    virtual std::string algorithm() const = 0;
    /// The form of the signatures sign() writes (DER for an ES256 signer
    /// whose service answers in DER).
    virtual alpaca_auth_signature_format format() const noexcept {
        return ALPACA_AUTH_SIGNATURE_FORMAT_JWS;
    }
    /// The public key (see alpaca_auth_signer::public_key for the forms);
    /// empty if the signer has none, and then identity() is required.
    virtual std::vector<std::uint8_t> public_key() const { return {}; }
    /// A stable name of the key, used when there is no public key.
    virtual std::string identity() const { return {}; }
    /// Signs `input` (`input_len` bytes) into `signature` (at most
    /// ALPACA_AUTH_MAX_SIGNATURE_LEN bytes); on failure, may say why in
    /// `detail` (never a secret) and returns
    /// ALPACA_AUTH_SIGN_RESULT_FAILED or _RETRY.
    virtual alpaca_auth_sign_result sign(const std::uint8_t *input, std::size_t input_len,
                                         std::chrono::milliseconds time_left,
                                         std::vector<std::uint8_t> &signature,
                                         std::string &detail) = 0;
};

namespace detail {

/// The C callbacks of a signer: user_data is a heap copy of the
/// shared_ptr, freed by free_user_data. No exception crosses the C library.
struct signer_trampolines {
    using holder = std::shared_ptr<signer>;

    static void say(char *buf, std::size_t len, const std::string &text) noexcept {
        if (len == 0) {
            return;
        }
        std::size_t n = text.size() < len - 1 ? text.size() : len - 1;
        std::memcpy(buf, text.data(), n);
        buf[n] = '\0';
    }
    static std::uint32_t call(signer &s, const std::uint8_t *input, std::size_t input_len,
                              std::uint64_t time_left_ms, std::uint8_t *buf, std::size_t cap,
                              std::size_t *len_out, char *detail_buf, std::size_t detail_len) {
        std::vector<std::uint8_t> signature;
        std::string detail;
        alpaca_auth_sign_result r =
            s.sign(input, input_len,
                   std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(
                       time_left_ms > 0x7fffffffffffULL ? 0x7fffffffffffULL : time_left_ms)),
                   signature, detail);
        if (r != ALPACA_AUTH_SIGN_RESULT_OK) {
            say(detail_buf, detail_len, detail);
            return static_cast<std::uint32_t>(r);
        }
        if (signature.empty() || signature.size() > cap) {
            say(detail_buf, detail_len, "the C++ signer wrote no signature, or one too long");
            return static_cast<std::uint32_t>(ALPACA_AUTH_SIGN_RESULT_FAILED);
        }
        std::memcpy(buf, signature.data(), signature.size());
        *len_out = signature.size();
        return static_cast<std::uint32_t>(ALPACA_AUTH_SIGN_RESULT_OK);
    }
    static std::uint32_t sign(void *user_data, const std::uint8_t *input, std::size_t input_len,
                              std::uint64_t time_left_ms, std::uint8_t *buf, std::size_t cap,
                              std::size_t *len_out, char *detail_buf,
                              std::size_t detail_len) noexcept {
        signer &s = **static_cast<holder *>(user_data);
#if ALPACA_AUTH_HPP_EXCEPTIONS
        try {
            return call(s, input, input_len, time_left_ms, buf, cap, len_out, detail_buf,
                        detail_len);
        } catch (const std::exception &e) {
            say(detail_buf, detail_len, std::string("the C++ signer threw: ") + e.what());
        } catch (...) {
            say(detail_buf, detail_len, "the C++ signer threw");
        }
        return static_cast<std::uint32_t>(ALPACA_AUTH_SIGN_RESULT_FAILED);
#else
        return call(s, input, input_len, time_left_ms, buf, cap, len_out, detail_buf, detail_len);
#endif
    }
    static void free_user_data(void *user_data) noexcept { delete static_cast<holder *>(user_data); }
};

} // namespace detail

/// What the event callback of builder::event_callback receives: see
/// alpaca_auth_event in alpaca_auth.h (kind, result, http_status, by_server,
/// duration_ms; never a secret; valid only during the call).
using event = alpaca_auth_event;

/// An event callback (builder::event_callback).
using event_handler = std::function<void(const event &)>;

namespace detail {

/// The C event callback of an event_handler: user_data is the handler,
/// owned (through a shared_ptr) by the builder, then by the client, which
/// frees it only after alpaca_auth_client_free has returned (no callback
/// runs after that). An exception thrown by the handler is caught here: it
/// must not cross the C library.
struct event_trampoline {
    static void call(const alpaca_auth_event *ev, void *user_data) noexcept {
        if (ev == nullptr || user_data == nullptr) {
            return;
        }
#if ALPACA_AUTH_HPP_EXCEPTIONS
        try {
            (*static_cast<event_handler *>(user_data))(*ev);
        } catch (...) {
        }
#else
        (*static_cast<event_handler *>(user_data))(*ev);
#endif
    }
};

/// Keeps an event handler alive until the program exits: after release(),
/// the wrapper no longer knows when the C handle is freed.
inline void keep_forever(std::shared_ptr<event_handler> handler) {
    if (!handler) {
        return;
    }
    static std::mutex *mutex = new std::mutex;
    static std::vector<std::shared_ptr<event_handler>> *kept =
        new std::vector<std::shared_ptr<event_handler>>;
    std::lock_guard<std::mutex> guard(*mutex);
    kept->push_back(std::move(handler));
}

} // namespace detail

class builder;

/// An authenticated client: owns an alpaca_auth_client (and the event
/// handler its builder was given, if any). Move-only; share one among
/// threads (by reference) so they share one cached token.
class client {
  public:
    /// Takes ownership of a C handle (may be nullptr).
    explicit client(alpaca_auth_client *raw = nullptr) noexcept : raw_(raw) {}

    client(client &&other) noexcept
        : raw_(detail::take(other.raw_)), events_(std::move(other.events_)) {}
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            alpaca_auth_client_free(raw_);
            raw_ = detail::take(other.raw_);
            events_ = std::move(other.events_); // after the free: no callback runs now
        }
        return *this;
    }
    client(const client &) = delete;
    client &operator=(const client &) = delete;
    /// Frees the client (waiting for an event callback under way), then its
    /// event handler.
    ~client() { alpaca_auth_client_free(raw_); }

    /// Whether this object holds a client (false after a move or release()).
    explicit operator bool() const noexcept { return raw_ != nullptr; }

    /// The C handle, still owned by this object.
    const alpaca_auth_client *get() const noexcept { return raw_; }

    /// Gives up ownership: the caller frees the handle with
    /// alpaca_auth_client_free. An event handler stays alive until the
    /// program exits.
    alpaca_auth_client *release() noexcept {
        detail::keep_forever(std::move(events_));
        return detail::take(raw_);
    }

    // --- non-throwing interface: std::nothrow first, the result code back ---

    /// A client from the APCA_* environment variables.
    static result from_env(std::nothrow_t, client &out) noexcept {
        alpaca_auth_client *raw = nullptr;
        result r = alpaca_auth_client_new_from_env(&raw);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = client(raw);
        }
        return r;
    }

    /// The current access token (fetched or refreshed if needed).
    result access_token(std::nothrow_t, std::string &out) const {
        const alpaca_auth_client *raw = raw_;
        return detail::copy_string(out, [raw](char *buf, std::size_t len, std::size_t *needed) {
            return alpaca_auth_client_access_token(raw, buf, len, needed);
        });
    }

    /// The auth headers as "Name: value" lines, ready for curl_slist_append.
    result auth_header_lines(std::nothrow_t, std::vector<std::string> &out) const {
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
    /// `buf` of `len` bytes: the allocation-free fast path. Waits for a
    /// token when none is cached; the form that never waits is
    /// try_header_line (C: alpaca_auth_client_try_header_line).
    /// `length_out` receives the line's length without the NUL. A buffer of
    /// ALPACA_AUTH_MAX_HEADER_LINE bytes is always large enough.
    result header_line(std::nothrow_t, std::size_t index, char *buf, std::size_t len,
                       std::size_t &length_out) const noexcept {
        std::size_t needed = 0;
        result r = alpaca_auth_client_header_line(raw_, index, buf, len, &needed);
        if (r == ALPACA_AUTH_RESULT_OK) {
            length_out = needed - 1;
        }
        return r;
    }

    /// header_line that never blocks and never sends a token request on
    /// this thread: ALPACA_AUTH_RESULT_WOULD_BLOCK (nothing written) when no
    /// valid token is cached yet. For the order path.
    result try_header_line(std::nothrow_t, std::size_t index, char *buf, std::size_t len,
                           std::size_t &length_out) const noexcept {
        std::size_t needed = 0;
        result r = alpaca_auth_client_try_header_line(raw_, index, buf, len, &needed);
        if (r == ALPACA_AUTH_RESULT_OK) {
            length_out = needed - 1;
        }
        return r;
    }

    /// How long the cached token is still handed out, in ms (0: none).
    result token_remaining_ms(std::nothrow_t, std::uint64_t &out) const noexcept {
        return alpaca_auth_client_token_remaining_ms(raw_, &out);
    }

    /// Forgets the cached token (after a 401): the next call fetches anew.
    result invalidate(std::nothrow_t) const noexcept { return alpaca_auth_client_invalidate(raw_); }

    /// Forgets the cached token only if it is `token_or_header_line` (the
    /// bare token or the "Authorization: Bearer ..." line the API rejected):
    /// many threads reporting the same 401 cause one new token request.
    result invalidate_presented(std::nothrow_t,
                            const std::string &token_or_header_line) const noexcept {
        if (!detail::c_safe(token_or_header_line)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return alpaca_auth_client_invalidate_presented(raw_, token_or_header_line.c_str());
    }

    /// The background refresher's status (ALPACA_AUTH_RESULT_CONFIG if the
    /// client has none). After a failed refresh (`consecutive_failures >
    /// 0`), alpaca_auth::last_error() says why, though the call succeeded.
    result refresher_status(std::nothrow_t, alpaca_auth::refresher_status &out) const noexcept {
        alpaca_auth::refresher_status status;
        result r = alpaca_auth_client_refresher_status(raw_, &status);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = status;
        }
        return r;
    }

    /// The client's counters.
    result stats(std::nothrow_t, alpaca_auth::stats &out) const noexcept {
        alpaca_auth::stats counters;
        result r = alpaca_auth_client_stats(raw_, &counters);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = counters;
        }
        return r;
    }

    /// Whether the client uses OAuth2 access tokens (client credentials).
    result uses_tokens(std::nothrow_t, bool &out) const noexcept {
        return alpaca_auth_client_uses_tokens(raw_, &out);
    }

    /// Whether the client shares tokens through its token store; UNAVAILABLE
    /// when a configured store was refused at build (the reason is then in
    /// the thread's last error, alpaca_auth::last_error(), though the call
    /// succeeded).
    result token_store_status(std::nothrow_t, alpaca_auth_store_status &out) const noexcept {
        return alpaca_auth_client_token_store_status(raw_, &out);
    }

    /// The Trading/Broker API base URL.
    result api_base_url(std::nothrow_t, std::string &out) const {
        return borrowed(alpaca_auth_client_api_base_url, out);
    }
    /// The Market Data API base URL.
    result data_base_url(std::nothrow_t, std::string &out) const {
        return borrowed(alpaca_auth_client_data_base_url, out);
    }
    /// The token endpoint, or "" when there is none.
    result token_url(std::nothrow_t, std::string &out) const {
        return borrowed(alpaca_auth_client_token_url, out);
    }
    /// "live", "paper", "broker" or "broker-sandbox".
    result environment(std::nothrow_t, std::string &out) const {
        return borrowed(alpaca_auth_client_environment, out);
    }
    /// The base of the environment's Market Data WebSocket streams
    /// ("wss://stream.data.alpaca.markets"; /v2/iex or /v2/sip below it).
    result market_data_stream_base(std::nothrow_t, std::string &out) const {
        return borrowed(alpaca_auth_client_market_data_stream_base, out);
    }
    /// The environment's trade-updates WebSocket, or "" (broker
    /// environments: none known).
    result trade_updates_stream_url(std::nothrow_t, std::string &out) const {
        return borrowed(alpaca_auth_client_trade_updates_stream_url, out);
    }

    /// Copies the first message of an Alpaca WebSocket stream,
    /// {"action":"auth","key":...,"secret":...} (NUL-terminated), into `buf`
    /// of `len` bytes. It holds the API secret: it goes only into this
    /// buffer of the caller's, never into a std::string; wipe it when done.
    /// `length_out` receives the message's length without the NUL, on OK
    /// and on ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL (a buffer of length_out + 1
    /// bytes is needed; nothing written). Client credentials:
    /// ALPACA_AUTH_RESULT_CONFIG.
    result stream_auth_message(std::nothrow_t, char *buf, std::size_t len,
                               std::size_t &length_out) const noexcept {
        std::size_t needed = 0;
        result r = alpaca_auth_client_stream_auth_message(raw_, buf, len, &needed);
        if (r == ALPACA_AUTH_RESULT_OK || r == ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL) {
            length_out = needed - 1;
        }
        return r;
    }

    /// The number of auth header lines (1 or 2); fixed for the client.
    std::size_t header_count() const noexcept { return alpaca_auth_client_header_count(raw_); }

#if ALPACA_AUTH_HPP_EXCEPTIONS
    // --- throwing interface: the same calls, alpaca_auth::error on failure ---

    /// A client from the APCA_* environment variables.
    static client from_env() {
        client out;
        detail::check(from_env(std::nothrow, out));
        return out;
    }
    std::string access_token() const {
        std::string token;
        detail::check(access_token(std::nothrow, token));
        return token;
    }
    std::vector<std::string> auth_header_lines() const {
        std::vector<std::string> lines;
        detail::check(auth_header_lines(std::nothrow, lines));
        return lines;
    }
    /// Returns the line's length without the NUL.
    std::size_t header_line(std::size_t index, char *buf, std::size_t len) const {
        std::size_t length = 0;
        detail::check(header_line(std::nothrow, index, buf, len, length));
        return length;
    }
    /// header_line that never blocks: false (nothing written) when no
    /// valid token is cached yet; throws on other failures.
    bool try_header_line(std::size_t index, char *buf, std::size_t len,
                         std::size_t &length_out) const {
        result r = try_header_line(std::nothrow, index, buf, len, length_out);
        if (r == ALPACA_AUTH_RESULT_WOULD_BLOCK) {
            return false;
        }
        detail::check(r);
        return true;
    }
    std::uint64_t token_remaining_ms() const {
        std::uint64_t ms = 0;
        detail::check(token_remaining_ms(std::nothrow, ms));
        return ms;
    }
    void invalidate() const { detail::check(invalidate(std::nothrow)); }
    void invalidate_presented(const std::string &token_or_header_line) const {
        detail::check(invalidate_presented(std::nothrow, token_or_header_line));
    }
    /// After a failed refresh (`consecutive_failures > 0`), the reason is in
    /// alpaca_auth::last_error().
    alpaca_auth::refresher_status refresher_status() const {
        alpaca_auth::refresher_status out;
        detail::check(refresher_status(std::nothrow, out));
        return out;
    }
    alpaca_auth::stats stats() const {
        alpaca_auth::stats out;
        detail::check(stats(std::nothrow, out));
        return out;
    }
    bool uses_tokens() const {
        bool uses = false;
        detail::check(uses_tokens(std::nothrow, uses));
        return uses;
    }
    alpaca_auth_store_status token_store_status() const {
        alpaca_auth_store_status status = ALPACA_AUTH_STORE_STATUS_NONE;
        detail::check(token_store_status(std::nothrow, status));
        return status;
    }
    std::string api_base_url() const { return checked(alpaca_auth_client_api_base_url); }
    std::string data_base_url() const { return checked(alpaca_auth_client_data_base_url); }
    std::string token_url() const { return checked(alpaca_auth_client_token_url); }
    std::string environment() const { return checked(alpaca_auth_client_environment); }
    std::string market_data_stream_base() const {
        return checked(alpaca_auth_client_market_data_stream_base);
    }
    std::string trade_updates_stream_url() const {
        return checked(alpaca_auth_client_trade_updates_stream_url);
    }
    /// Returns the message's length without the NUL (see the std::nothrow
    /// form); a buffer too small throws ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL.
    std::size_t stream_auth_message(char *buf, std::size_t len) const {
        std::size_t length = 0;
        detail::check(stream_auth_message(std::nothrow, buf, len, length));
        return length;
    }
#endif

  private:
    friend class builder;
    client(alpaca_auth_client *raw, std::shared_ptr<event_handler> events) noexcept
        : raw_(raw), events_(std::move(events)) {}

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
    std::string checked(string_getter getter) const {
        std::string value;
        detail::check(borrowed(getter, value));
        return value;
    }
#endif

    alpaca_auth_client *raw_;
    // Declared after raw_ and destroyed after the destructor's free.
    std::shared_ptr<event_handler> events_;
};

/// The configuration of a client: owns an alpaca_auth_builder. Move-only.
/// Each setting has a throwing form that returns *this for chaining and a
/// std::nothrow form that returns the result code. Building consumes the
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
        detail::check(from_env(std::nothrow, out));
        return out;
    }
#endif
    /// Takes ownership of a C handle (may be nullptr).
    explicit builder(alpaca_auth_builder *raw) noexcept : raw_(raw) {}

    /// A builder with the documented defaults.
    static result create(std::nothrow_t, builder &out) noexcept {
        return adopt(alpaca_auth_builder_new, out);
    }
    /// A builder from the APCA_* environment variables.
    static result from_env(std::nothrow_t, builder &out) noexcept {
        return adopt(alpaca_auth_builder_new_from_env, out);
    }

    builder(builder &&other) noexcept
        : raw_(detail::take(other.raw_)), events_(std::move(other.events_)) {}
    builder &operator=(builder &&other) noexcept {
        if (this != &other) {
            alpaca_auth_builder_free(raw_);
            raw_ = detail::take(other.raw_);
            events_ = std::move(other.events_);
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
    /// alpaca_auth_builder_free (or builds it). An event handler stays
    /// alive until the program exits.
    alpaca_auth_builder *release() noexcept {
        detail::keep_forever(std::move(events_));
        return detail::take(raw_);
    }

    // --- non-throwing interface: std::nothrow first, the result code back ---

    /// "live", "paper", "broker" or "broker-sandbox".
    result environment(std::nothrow_t, const std::string &name) noexcept {
        return set(alpaca_auth_builder_set_environment, name);
    }
    /// API key pair in the environment's form: HTTP Basic in broker and
    /// broker-sandbox, APCA-API-KEY-ID / APCA-API-SECRET-KEY headers otherwise.
    result api_key(std::nothrow_t, const std::string &key_id, const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_api_key, key_id, secret);
    }
    /// API key pair as APCA-API-KEY-ID / APCA-API-SECRET-KEY headers, in any
    /// environment.
    result api_key_headers(std::nothrow_t, const std::string &key_id,
                           const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_api_key_headers, key_id, secret);
    }
    /// API key pair as HTTP Basic (Broker API keys).
    result api_key_basic(std::nothrow_t, const std::string &key_id,
                         const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_api_key_basic, key_id, secret);
    }
    /// OAuth2 client credentials, client_secret_post.
    result client_secret(std::nothrow_t, const std::string &client_id,
                         const std::string &secret) noexcept {
        return set(alpaca_auth_builder_set_client_secret, client_id, secret);
    }
    /// OAuth2 client credentials, private_key_jwt, signed on a PKCS#11 token
    /// named by an RFC 7512 URI (alpaca_auth_builder_set_client_pkcs11).
    result client_pkcs11(std::nothrow_t, const std::string &client_id,
                         const std::string &uri) noexcept {
        return set(alpaca_auth_builder_set_client_pkcs11, client_id, uri);
    }
    /// Authenticates with OAuth2 client credentials, private_key_jwt, with
    /// assertions signed by `s` (see alpaca_auth_builder_set_client_signer);
    /// the client keeps a reference to it for its life.
    result client_signer(std::nothrow_t, const std::string &client_id,
                         std::shared_ptr<alpaca_auth::signer> s) {
        if (!s) {
            return ALPACA_AUTH_RESULT_NULL_ARGUMENT;
        }
        if (!detail::c_safe(client_id)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        using tramp = detail::signer_trampolines;
        const std::string algorithm = s->algorithm();
        const std::vector<std::uint8_t> public_key = s->public_key();
        const std::string identity = s->identity();
        alpaca_auth_signer callbacks;
        std::memset(&callbacks, 0, sizeof callbacks);
        callbacks.struct_size = sizeof callbacks;
        callbacks.algorithm = algorithm.c_str();
        callbacks.signature_format = static_cast<std::uint32_t>(s->format());
        callbacks.public_key = public_key.empty() ? nullptr : public_key.data();
        callbacks.public_key_len = public_key.size();
        callbacks.identity = identity.empty() ? nullptr : identity.c_str();
        callbacks.sign = &tramp::sign;
        callbacks.free_user_data = &tramp::free_user_data;
        callbacks.user_data = new tramp::holder(std::move(s));
        result r = alpaca_auth_builder_set_client_signer(raw_, client_id.c_str(), &callbacks);
        if (r != ALPACA_AUTH_RESULT_OK) {
            tramp::free_user_data(callbacks.user_data); // not kept by the library
        }
        return r;
    }
    /// OAuth2 client credentials, private_key_jwt; `key` is PEM text or DER.
    result client_private_key(std::nothrow_t, const std::string &client_id,
                              const std::string &key) noexcept {
        if (!detail::c_safe(client_id)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return alpaca_auth_builder_set_client_private_key(
            raw_, client_id.c_str(), reinterpret_cast<const std::uint8_t *>(key.data()),
            key.size());
    }
    /// A kid header in client assertions (none by default).
    result assertion_kid(std::nothrow_t, const std::string &kid) noexcept {
        return set(alpaca_auth_builder_set_assertion_kid, kid);
    }
    /// The assertion's exact `aud` (default: the token URL).
    result assertion_audience(std::nothrow_t, const std::string &aud) noexcept {
        return set(alpaca_auth_builder_set_assertion_audience, aud);
    }
    /// The assertion's `typ` header ("JWT" by default, or
    /// "client-authentication+jwt").
    result assertion_typ(std::nothrow_t, const std::string &typ) noexcept {
        return set(alpaca_auth_builder_set_assertion_typ, typ);
    }
    /// The assertion's lifetime in seconds.
    result assertion_lifetime_s(std::nothrow_t, std::uint64_t seconds) noexcept {
        return alpaca_auth_builder_set_assertion_lifetime_s(raw_, seconds);
    }
    /// The signing algorithm ("PS256" for an RSA key, "Ed25519", ...).
    result assertion_alg(std::nothrow_t, const std::string &alg) noexcept {
        return set(alpaca_auth_builder_set_assertion_alg, alg);
    }
    /// The `scope` of token requests (space-separated).
    result scope(std::nothrow_t, const std::string &value) noexcept {
        return set(alpaca_auth_builder_set_scope, value);
    }
    /// Shares tokens with this user's other processes through a private
    /// directory (see alpaca_auth_builder_set_token_cache_dir).
    result token_cache_dir(std::nothrow_t, const std::string &dir) noexcept {
        return set(alpaca_auth_builder_set_token_cache_dir, dir);
    }
    /// Shares tokens through the built-in Redis store at url (redis://,
    /// rediss:// or unix://; see alpaca_auth_builder_set_token_store_url);
    /// an empty key_prefix is the default. A library built without the
    /// cargo feature "redis" refuses it with ALPACA_AUTH_RESULT_CONFIG.
    result token_store_url(std::nothrow_t, const std::string &url,
                           const std::string &key_prefix = std::string()) noexcept {
        if (!detail::c_safe(url) || !detail::c_safe(key_prefix)) {
            return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
        }
        return alpaca_auth_builder_set_token_store_url(
            raw_, url.c_str(), key_prefix.empty() ? nullptr : key_prefix.c_str());
    }
    /// Shares tokens through a store of the application's; the client keeps
    /// a reference to it for its life.
    result token_store(std::nothrow_t, std::shared_ptr<alpaca_auth::token_store> store) {
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
    /// Calls `handler` on every event of the token lifecycle (token fetched,
    /// fetch failed, hold started and ended, refresher overdue, fork
    /// detected, store unavailable), on whichever thread the event happens
    /// and never while a lock of the library is held: make it thread-safe
    /// and short. An empty handler removes it. The handler is moved to the
    /// heap and owned by this builder, then by the client it builds, which
    /// destroys it after alpaca_auth_client_free has returned (no call runs
    /// after that); it must not destroy that client itself. An exception it
    /// throws is caught and ignored.
    result event_callback(std::nothrow_t, event_handler handler) {
        if (!handler) {
            result r = alpaca_auth_builder_set_event_callback(raw_, nullptr, nullptr);
            if (r == ALPACA_AUTH_RESULT_OK) {
                events_.reset();
            }
            return r;
        }
        std::shared_ptr<event_handler> owned = std::make_shared<event_handler>(std::move(handler));
        result r = alpaca_auth_builder_set_event_callback(raw_, &detail::event_trampoline::call,
                                                          owned.get());
        if (r == ALPACA_AUTH_RESULT_OK) {
            events_ = std::move(owned);
        }
        return r;
    }
    result api_base_url(std::nothrow_t, const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_api_base_url, url);
    }
    result data_base_url(std::nothrow_t, const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_data_base_url, url);
    }
    result token_url(std::nothrow_t, const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_token_url, url);
    }
    result connect_timeout(std::nothrow_t, std::chrono::milliseconds timeout) noexcept {
        return set_ms(alpaca_auth_builder_set_connect_timeout_ms, timeout);
    }
    result request_timeout(std::nothrow_t, std::chrono::milliseconds timeout) noexcept {
        return set_ms(alpaca_auth_builder_set_request_timeout_ms, timeout);
    }
    result token_budget(std::nothrow_t, std::chrono::milliseconds budget) noexcept {
        return set_ms(alpaca_auth_builder_set_token_budget_ms, budget);
    }
    /// Trusts the certificates of a PEM bundle besides the webpki roots.
    result add_ca_bundle_pem(std::nothrow_t, const std::string &pem) noexcept {
        return alpaca_auth_builder_add_ca_bundle_pem(
            raw_, reinterpret_cast<const std::uint8_t *>(pem.data()), pem.size());
    }
    result proxy(std::nothrow_t, const std::string &url) noexcept {
        return set(alpaca_auth_builder_set_proxy, url);
    }
    result disable_proxy(std::nothrow_t) noexcept { return alpaca_auth_builder_disable_proxy(raw_); }
    /// Trusts the certificates of a PEM file besides the roots.
    result add_ca_bundle_file(std::nothrow_t, const std::string &path) noexcept {
        return set(alpaca_auth_builder_add_ca_bundle_file, path);
    }
    /// `env` (default), `bundled` or `platform`: alpaca_auth_builder_set_tls_roots.
    result tls_roots(std::nothrow_t, const std::string &name) noexcept {
        return set(alpaca_auth_builder_set_tls_roots, name);
    }
    /// A thread owned by the client refreshes the token ahead of expiry.
    result background_refresh(std::nothrow_t, bool on) noexcept {
        return alpaca_auth_builder_set_background_refresh(raw_, on);
    }
    /// The longest any call waits for a token (default: the token budget).
    /// Which thread sends a token request: alpaca_auth_builder_set_max_wait_ms.
    result max_wait(std::nothrow_t, std::chrono::milliseconds wait) noexcept {
        return set_ms(alpaca_auth_builder_set_max_wait_ms, wait);
    }
    /// Refresh at least this long before expiry (alpaca_auth_builder_set_refresh_ahead_min_ms).
    result refresh_ahead_min(std::nothrow_t, std::chrono::milliseconds ahead) noexcept {
        return set_ms(alpaca_auth_builder_set_refresh_ahead_min_ms, ahead);
    }
    /// Refresh at least this fraction of the lifetime before expiry, 0 to 1.
    result refresh_ahead_fraction(std::nothrow_t, double fraction) noexcept {
        return alpaca_auth_builder_set_refresh_ahead_fraction(raw_, fraction);
    }
    /// Most HTTP requests of one token acquisition, the first included.
    result retry_max_attempts(std::nothrow_t, std::uint32_t attempts) noexcept {
        return alpaca_auth_builder_set_retry_max_attempts(raw_, attempts);
    }
    /// Backoff before the first retry; it doubles up to retry_max_backoff.
    result retry_initial_backoff(std::nothrow_t, std::chrono::milliseconds backoff) noexcept {
        return set_ms(alpaca_auth_builder_set_retry_initial_backoff_ms, backoff);
    }
    /// Longest backoff between retries.
    result retry_max_backoff(std::nothrow_t, std::chrono::milliseconds backoff) noexcept {
        return set_ms(alpaca_auth_builder_set_retry_max_backoff_ms, backoff);
    }

    /// Validates and creates the client; the builder is empty afterwards.
    result build(std::nothrow_t, client &out) noexcept {
        alpaca_auth_client *raw = nullptr;
        // The C call consumes the builder whatever it returns.
        result r = alpaca_auth_builder_build(detail::take(raw_), &raw);
        std::shared_ptr<event_handler> events = std::move(events_);
        if (r == ALPACA_AUTH_RESULT_OK) {
            out = client(raw, std::move(events));
        }
        return r;
    }

#if ALPACA_AUTH_HPP_EXCEPTIONS
    // --- throwing interface: the same settings, chained ---

    builder &environment(const std::string &name) {
        return chain(environment(std::nothrow, name));
    }
    builder &api_key(const std::string &key_id, const std::string &secret) {
        return chain(api_key(std::nothrow, key_id, secret));
    }
    builder &api_key_basic(const std::string &key_id, const std::string &secret) {
        return chain(api_key_basic(std::nothrow, key_id, secret));
    }
    builder &client_secret(const std::string &client_id, const std::string &secret) {
        return chain(client_secret(std::nothrow, client_id, secret));
    }
    builder &client_private_key(const std::string &client_id, const std::string &key) {
        return chain(client_private_key(std::nothrow, client_id, key));
    }
    builder &client_pkcs11(const std::string &client_id, const std::string &uri) {
        return chain(client_pkcs11(std::nothrow, client_id, uri));
    }
    builder &client_signer(const std::string &client_id, std::shared_ptr<alpaca_auth::signer> s) {
        return chain(client_signer(std::nothrow, client_id, std::move(s)));
    }
    builder &api_key_headers(const std::string &key_id, const std::string &secret) {
        return chain(api_key_headers(std::nothrow, key_id, secret));
    }
    builder &assertion_kid(const std::string &kid) {
        return chain(assertion_kid(std::nothrow, kid));
    }
    builder &assertion_audience(const std::string &aud) {
        return chain(assertion_audience(std::nothrow, aud));
    }
    builder &assertion_typ(const std::string &typ) {
        return chain(assertion_typ(std::nothrow, typ));
    }
    builder &assertion_lifetime_s(std::uint64_t seconds) {
        return chain(assertion_lifetime_s(std::nothrow, seconds));
    }
    builder &assertion_alg(const std::string &alg) {
        return chain(assertion_alg(std::nothrow, alg));
    }
    builder &scope(const std::string &value) { return chain(scope(std::nothrow, value)); }
    builder &token_cache_dir(const std::string &dir) {
        return chain(token_cache_dir(std::nothrow, dir));
    }
    builder &token_store_url(const std::string &url,
                             const std::string &key_prefix = std::string()) {
        return chain(token_store_url(std::nothrow, url, key_prefix));
    }
    builder &token_store(std::shared_ptr<alpaca_auth::token_store> store) {
        return chain(token_store(std::nothrow, std::move(store)));
    }
    builder &event_callback(event_handler handler) {
        return chain(event_callback(std::nothrow, std::move(handler)));
    }
    builder &api_base_url(const std::string &url) {
        return chain(api_base_url(std::nothrow, url));
    }
    builder &data_base_url(const std::string &url) {
        return chain(data_base_url(std::nothrow, url));
    }
    builder &token_url(const std::string &url) { return chain(token_url(std::nothrow, url)); }
    builder &connect_timeout(std::chrono::milliseconds timeout) {
        return chain(connect_timeout(std::nothrow, timeout));
    }
    builder &request_timeout(std::chrono::milliseconds timeout) {
        return chain(request_timeout(std::nothrow, timeout));
    }
    builder &token_budget(std::chrono::milliseconds budget) {
        return chain(token_budget(std::nothrow, budget));
    }
    builder &add_ca_bundle_pem(const std::string &pem) {
        return chain(add_ca_bundle_pem(std::nothrow, pem));
    }
    builder &proxy(const std::string &url) { return chain(proxy(std::nothrow, url)); }
    builder &disable_proxy() { return chain(disable_proxy(std::nothrow)); }
    builder &background_refresh(bool on) { return chain(background_refresh(std::nothrow, on)); }
    builder &max_wait(std::chrono::milliseconds wait) {
        return chain(max_wait(std::nothrow, wait));
    }
    builder &refresh_ahead_min(std::chrono::milliseconds ahead) {
        return chain(refresh_ahead_min(std::nothrow, ahead));
    }
    builder &refresh_ahead_fraction(double fraction) {
        return chain(refresh_ahead_fraction(std::nothrow, fraction));
    }
    builder &retry_max_attempts(std::uint32_t attempts) {
        return chain(retry_max_attempts(std::nothrow, attempts));
    }
    builder &retry_initial_backoff(std::chrono::milliseconds backoff) {
        return chain(retry_initial_backoff(std::nothrow, backoff));
    }
    builder &retry_max_backoff(std::chrono::milliseconds backoff) {
        return chain(retry_max_backoff(std::nothrow, backoff));
    }
    builder &add_ca_bundle_file(const std::string &path) {
        return chain(add_ca_bundle_file(std::nothrow, path));
    }
    builder &tls_roots(const std::string &name) { return chain(tls_roots(std::nothrow, name)); }

    /// Validates and creates the client; the builder is empty afterwards.
    alpaca_auth::client build() {
        alpaca_auth::client out;
        detail::check(build(std::nothrow, out));
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
    std::shared_ptr<event_handler> events_;
};

} // namespace alpaca_auth

#endif // ALPACA_AUTH_HPP
