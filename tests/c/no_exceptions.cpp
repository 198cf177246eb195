// no_exceptions.cpp: the C++ wrapper in a -fno-exceptions build, the way a
// low-latency shop uses it: std::nothrow forms and result codes only. Builds a
// client from the APCA_* variables of tests/c_packaging.rs (a mock), prints
// its header line from the allocation-free path, and shows what a refused
// setting and a moved-from client return.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "alpaca_auth.hpp"

#if ALPACA_AUTH_HPP_EXCEPTIONS
#error "compile this program with -fno-exceptions"
#endif

namespace {

/// A token store in memory, standing in for a cache shared by a fleet.
class memory_store : public alpaca_auth::token_store {
  public:
    int publishes = 0;

    alpaca_auth::result load(const char *key, entry &out, bool &found) noexcept override {
        std::lock_guard<std::mutex> guard(mutex_);
        auto it = entries_.find(key);
        found = it != entries_.end();
        if (found) {
            out = it->second;
        }
        return ALPACA_AUTH_RESULT_OK;
    }
    alpaca_auth::result publish(const char *key, const entry &value) noexcept override {
        std::lock_guard<std::mutex> guard(mutex_);
        entries_[key] = value;
        publishes++;
        return ALPACA_AUTH_RESULT_OK;
    }
    alpaca_auth::result try_lock(const char *key, bool &acquired) noexcept override {
        std::lock_guard<std::mutex> guard(mutex_);
        acquired = locks_.insert(std::string(key)).second;
        return ALPACA_AUTH_RESULT_OK;
    }
    alpaca_auth::result unlock(const char *key) noexcept override {
        std::lock_guard<std::mutex> guard(mutex_);
        locks_.erase(std::string(key));
        return ALPACA_AUTH_RESULT_OK;
    }

  private:
    std::mutex mutex_;
    std::map<std::string, entry> entries_;
    std::set<std::string> locks_;
};

/// A client from the APCA_* variables sharing tokens through `store`.
alpaca_auth::result shared_client(const std::shared_ptr<memory_store> &store,
                                  alpaca_auth::client &out) {
    alpaca_auth::builder config(nullptr);
    alpaca_auth::result r = alpaca_auth::builder::from_env(std::nothrow, config);
    if (r == ALPACA_AUTH_RESULT_OK) {
        r = config.token_store(std::nothrow, store);
    }
    if (r == ALPACA_AUTH_RESULT_OK) {
        r = config.build(std::nothrow, out);
    }
    return r;
}

} // namespace

int main() {
    if (!alpaca_auth::library_is_compatible()) {
        std::fprintf(stderr, "the library is older than alpaca_auth.h\n");
        return 1;
    }

    alpaca_auth::builder refused;
    if (!refused) {
        return 1;
    }
    alpaca_auth::result r = refused.environment(std::nothrow, "nowhere");
    std::printf("unknown environment: %s\n", alpaca_auth::result_name(r));

    alpaca_auth::builder config(nullptr);
    r = alpaca_auth::builder::from_env(std::nothrow, config);
    alpaca_auth::client client;
    std::shared_ptr<memory_store> store = std::make_shared<memory_store>();
    std::shared_ptr<std::atomic<int>> fetched = std::make_shared<std::atomic<int>>(0);
    if (r == ALPACA_AUTH_RESULT_OK) {
        r = config.token_store(std::nothrow, store);
    }
    if (r == ALPACA_AUTH_RESULT_OK) {
        // Owned by the client from build() on, destroyed after its free.
        r = config.event_callback(std::nothrow, [fetched](const alpaca_auth::event &e) {
            if (e.kind == ALPACA_AUTH_EVENT_KIND_TOKEN_FETCHED) {
                ++*fetched;
            }
        });
    }
    if (r == ALPACA_AUTH_RESULT_OK) {
        r = config.build(std::nothrow, client);
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
    r = client.header_line(std::nothrow, 0, line, sizeof line, length);
    if (r != ALPACA_AUTH_RESULT_OK) {
        std::fprintf(stderr, "header_line: %s: %s\n", alpaca_auth::result_name(r),
                     alpaca_auth::last_error().c_str());
        return 1;
    }
    std::printf("header: %.*s\n", static_cast<int>(length), line);

    // A second client (another process of the fleet) takes the stored token.
    alpaca_auth::client other;
    char other_line[ALPACA_AUTH_MAX_HEADER_LINE];
    std::size_t other_length = 0;
    r = shared_client(store, other);
    if (r == ALPACA_AUTH_RESULT_OK) {
        r = other.header_line(std::nothrow, 0, other_line, sizeof other_line, other_length);
    }
    std::printf("shared store: %s, %d publish\n",
                r == ALPACA_AUTH_RESULT_OK && other_length == length &&
                        std::memcmp(line, other_line, length) == 0
                    ? "same token"
                    : "different token",
                store->publishes);

    // The event of a fetch on a library thread may follow its token.
    for (int i = 0; i < 200 && fetched->load() == 0; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::printf("token events: %d\n", fetched->load());

    std::string url;
    r = client.market_data_stream_base(std::nothrow, url);
    std::printf("market data stream: %s\n", r == ALPACA_AUTH_RESULT_OK ? url.c_str() : "?");
    r = client.trade_updates_stream_url(std::nothrow, url);
    std::printf("trade updates stream: %s\n", r == ALPACA_AUTH_RESULT_OK ? url.c_str() : "?");
    char message[256];
    std::size_t message_length = 0;
    r = client.stream_auth_message(std::nothrow, message, sizeof message, message_length);
    std::printf("stream auth message: %s\n", alpaca_auth::result_name(r));

    alpaca_auth::client moved = std::move(client);
    std::string token;
    r = client.access_token(std::nothrow, token);
    std::printf("moved-from client: %s\n", alpaca_auth::result_name(r));
    if (static_cast<bool>(client) || !moved) {
        return 1;
    }
    alpaca_auth::stats counters;
    r = moved.stats(std::nothrow, counters);
    return r == ALPACA_AUTH_RESULT_OK && counters.token_http_requests == 1 ? 0 : 1;
}
