/*
 * last_error.c: the last-error rule of alpaca_auth_last_error, for every
 * function of the header. Before each call, a failing call leaves a last
 * error behind; then the function is called on a success path and:
 *
 *   CLEARS  a function returning alpaca_auth_result: OK, and the last
 *           error is empty afterwards;
 *   KEEPS   a function returning no result code (and alpaca_auth_last_error
 *           itself): the last error is the one left before, unchanged;
 *   REASON  the two documented exceptions, which return OK and leave a
 *           reason: alpaca_auth_client_token_store_status (UNAVAILABLE) and
 *           alpaca_auth_client_refresher_status (the last refresh failed).
 *
 * Each call prints "called: <function>", so that tests/c_abi.rs can check
 * that every function the header declares was exercised, and each reason
 * "reason: <function>: <last error>".
 *
 * Variables: LAST_ERROR_TOKEN_URL, _CLIENT_ID, _CLIENT_SECRET (the mock's
 * client), _API_KEY_ID, _API_SECRET_KEY (its API key), _KEY (a P-256 PEM
 * key file), _CA (a PEM certificate file), _SHARED_DIR (a token store
 * directory to create), _OPEN_DIR (an existing directory others can read:
 * refused as a store); the APCA_* variables of a client-secret client.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

/* The last error the failing call leaves. */
static char failure[ALPACA_AUTH_MAX_ERROR_LEN];

/* Leaves a last error behind: a setter given no builder. */
static void fail_first(void) {
    alpaca_auth_result r = alpaca_auth_builder_set_environment(NULL, "paper");
    CHECK(r == ALPACA_AUTH_RESULT_NULL_ARGUMENT);
    snprintf(failure, sizeof failure, "%s", last_error());
    CHECK(failure[0] != '\0');
}

static void called(const char *function) { printf("called: %s\n", function); }

static void cleared(const char *function, alpaca_auth_result r) {
    const char *message = last_error();
    CHECK(r == ALPACA_AUTH_RESULT_OK);
    CHECK(message[0] == '\0');
    if (r != ALPACA_AUTH_RESULT_OK || message[0] != '\0') {
        fprintf(stderr, "%s: %s, last error \"%s\"\n", function, alpaca_auth_result_str(r),
                message);
    }
    called(function);
}

static void kept(const char *function) {
    const char *message = last_error();
    CHECK(strcmp(message, failure) == 0);
    if (strcmp(message, failure) != 0) {
        fprintf(stderr, "%s changed the last error to \"%s\"\n", function, message);
    }
    called(function);
}

static void reason(const char *function, alpaca_auth_result r, const char *needle) {
    const char *message = last_error();
    CHECK(r == ALPACA_AUTH_RESULT_OK);
    CHECK(strstr(message, needle) != NULL);
    printf("reason: %s: %s\n", function, message);
    called(function);
}

/* The function and its arguments are written once: the name printed is
 * the function called. */
#define CLEARS(function, args)                                                              \
    do {                                                                                    \
        fail_first();                                                                       \
        cleared(#function, function args);                                                  \
    } while (0)

#define KEEPS(function, args)                                                               \
    do {                                                                                    \
        fail_first();                                                                       \
        (void)function args;                                                                \
        kept(#function);                                                                    \
    } while (0)

#define REASON(function, args, needle)                                                      \
    do {                                                                                    \
        fail_first();                                                                       \
        alpaca_auth_result reason_r = function args;                                        \
        reason(#function, reason_r, needle);                                                \
    } while (0)

/* A token store that has nothing and takes every lock (never called: its
 * builder is freed unbuilt). */
static uint32_t st_load(void *user_data, const char *key, char *buf, size_t len,
                        size_t *len_out, uint64_t *expires_out, uint64_t *lifetime_out) {
    (void)user_data; (void)key; (void)buf; (void)len; (void)expires_out; (void)lifetime_out;
    *len_out = 0;
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t st_publish(void *user_data, const char *key, const char *token,
                           uint64_t expires_at_unix_ms, uint64_t lifetime_ms) {
    (void)user_data; (void)key; (void)token; (void)expires_at_unix_ms; (void)lifetime_ms;
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t st_try_lock(void *user_data, const char *key, bool *acquired_out) {
    (void)user_data; (void)key;
    *acquired_out = true;
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t st_unlock(void *user_data, const char *key) {
    (void)user_data; (void)key;
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t st_remove_if(void *user_data, const char *key, const char *token) {
    (void)user_data; (void)key; (void)token;
    return ALPACA_AUTH_RESULT_OK;
}

static void on_event(const alpaca_auth_event *event, void *user_data) {
    (void)event; (void)user_data;
}

/* A builder for the mock's client-secret client with `secret`. */
static alpaca_auth_builder *secret_builder(const char *secret) {
    alpaca_auth_builder *b = NULL;
    if (alpaca_auth_builder_new(&b) != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_environment(b, "broker-sandbox") != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_token_url(b, env("LAST_ERROR_TOKEN_URL")) !=
            ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_client_secret(b, env("LAST_ERROR_CLIENT_ID"), secret) !=
            ALPACA_AUTH_RESULT_OK) {
        fprintf(stderr, "secret_builder: %s\n", last_error());
        exit(2);
    }
    return b;
}

static alpaca_auth_client *build(alpaca_auth_builder *b) {
    alpaca_auth_client *c = NULL;
    if (alpaca_auth_builder_build(b, &c) != ALPACA_AUTH_RESULT_OK) {
        fprintf(stderr, "build: %s\n", last_error());
        exit(2);
    }
    return c;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* A signer that is never called (its builder is freed unbuilt). */
static uint32_t never_signs(void *user_data, const uint8_t *input, size_t input_len,
                            uint64_t time_left_ms, uint8_t *sig, size_t sig_len,
                            size_t *sig_len_out, char *detail, size_t detail_len) {
    (void)user_data, (void)input, (void)input_len, (void)time_left_ms, (void)sig;
    (void)sig_len, (void)sig_len_out, (void)detail, (void)detail_len;
    return ALPACA_AUTH_SIGN_RESULT_FAILED;
}

int main(void) {
    const char *token_url = env("LAST_ERROR_TOKEN_URL");
    const char *client_id = env("LAST_ERROR_CLIENT_ID");
    const char *secret = env("LAST_ERROR_CLIENT_SECRET");
    size_t key_len = 0;
    uint8_t *key = read_file(env("LAST_ERROR_KEY"), &key_len);
    size_t ca_len = 0;
    uint8_t *ca = read_file(env("LAST_ERROR_CA"), &ca_len);

    /* Errors and versions. */
    char buf[ALPACA_AUTH_MAX_HEADER_LINE];
    size_t len = 0;
    fail_first();
    alpaca_auth_result r = alpaca_auth_last_error(buf, sizeof buf, &len);
    CHECK(r == ALPACA_AUTH_RESULT_OK);
    kept("alpaca_auth_last_error");
    KEEPS(alpaca_auth_result_str, (ALPACA_AUTH_RESULT_OAUTH));
    KEEPS(alpaca_auth_version, ());
    KEEPS(alpaca_auth_version_number, ());

    /* Builder A: every setting of a private key, the stores; freed
     * unbuilt. */
    alpaca_auth_builder *a = NULL;
    CLEARS(alpaca_auth_builder_new, (&a));
    alpaca_auth_signer signer;
    memset(&signer, 0, sizeof signer);
    signer.struct_size = sizeof signer;
    signer.algorithm = "ES256";
    signer.identity = "kms:key-1";
    signer.sign = never_signs;
    CLEARS(alpaca_auth_builder_set_client_signer, (a, client_id, &signer));
    CLEARS(alpaca_auth_builder_set_client_private_key, (a, client_id, key, key_len));
    CLEARS(alpaca_auth_builder_set_assertion_kid, (a, "kid-1"));
    CLEARS(alpaca_auth_builder_set_assertion_audience, (a, "https://issuer.example"));
    CLEARS(alpaca_auth_builder_set_assertion_typ, (a, "client-authentication+jwt"));
    CLEARS(alpaca_auth_builder_set_assertion_lifetime_s, (a, 60));
    CLEARS(alpaca_auth_builder_set_assertion_alg, (a, "ES256"));
    CLEARS(alpaca_auth_builder_set_scope, (a, "trading"));
    CLEARS(alpaca_auth_builder_set_refresh_ahead_min_ms, (a, 60000));
    CLEARS(alpaca_auth_builder_set_refresh_ahead_fraction, (a, 0.2));
    CLEARS(alpaca_auth_builder_set_retry_max_attempts, (a, 3));
    CLEARS(alpaca_auth_builder_set_retry_initial_backoff_ms, (a, 100));
    CLEARS(alpaca_auth_builder_set_retry_max_backoff_ms, (a, 1000));
    CLEARS(alpaca_auth_builder_set_token_cache_dir, (a, env("LAST_ERROR_SHARED_DIR")));
    /* The Redis store: set in a library built with the cargo feature
     * "redis"; refused otherwise, with CONFIG and a last error naming the
     * feature. */
    fail_first();
    alpaca_auth_result redis_r =
        alpaca_auth_builder_set_token_store_url(a, "redis://127.0.0.1:6379", "fleet:");
    if (redis_r == ALPACA_AUTH_RESULT_OK) {
        cleared("alpaca_auth_builder_set_token_store_url", redis_r);
    } else {
        CHECK(redis_r == ALPACA_AUTH_RESULT_CONFIG);
        CHECK(strstr(last_error(), "cargo feature \"redis\"") != NULL);
        printf("refused (no redis feature): %s\n", last_error());
        called("alpaca_auth_builder_set_token_store_url");
    }
    fail_first();
    alpaca_auth_builder *p = NULL;
    CLEARS(alpaca_auth_builder_new, (&p));
    alpaca_auth_result pkcs11_r = alpaca_auth_builder_set_client_pkcs11(
        p, "ABCDEFGHIJ0123456789", "pkcs11:token=none;object=none?module-path=/nonexistent.so");
    /* No module there: a refusal with a reason in every build. */
    CHECK(pkcs11_r == ALPACA_AUTH_RESULT_CONFIG || pkcs11_r == ALPACA_AUTH_RESULT_INVALID_KEY);
    CHECK(last_error()[0] != '\0');
    printf("refused (pkcs11): %s\n", last_error());
    called("alpaca_auth_builder_set_client_pkcs11");
    KEEPS(alpaca_auth_builder_free, (p));
    alpaca_auth_token_store store;
    memset(&store, 0, sizeof store);
    store.struct_size = sizeof store;
    store.load = st_load;
    store.publish = st_publish;
    store.try_lock = st_try_lock;
    store.unlock = st_unlock;
    store.remove_if = st_remove_if;
    CLEARS(alpaca_auth_builder_set_token_store, (a, &store));
    CLEARS(alpaca_auth_builder_set_api_key, (a, "PKTEST00000000000001", "secret"));
    CLEARS(alpaca_auth_builder_set_api_key_headers, (a, "PKTEST00000000000001", "secret"));
    CLEARS(alpaca_auth_builder_set_api_key_basic, (a, "PKTEST00000000000001", "secret"));
    KEEPS(alpaca_auth_builder_free, (a));

    alpaca_auth_builder *from_env = NULL;
    CLEARS(alpaca_auth_builder_new_from_env, (&from_env));
    KEEPS(alpaca_auth_builder_free, (from_env));

    /* Builder B: the client most calls go to. */
    alpaca_auth_builder *b = NULL;
    CLEARS(alpaca_auth_builder_new, (&b));
    CLEARS(alpaca_auth_builder_set_environment, (b, "broker-sandbox"));
    CLEARS(alpaca_auth_builder_set_client_secret, (b, client_id, secret));
    CLEARS(alpaca_auth_builder_set_token_url, (b, token_url));
    CLEARS(alpaca_auth_builder_set_api_base_url, (b, token_url));
    CLEARS(alpaca_auth_builder_set_data_base_url, (b, token_url));
    CLEARS(alpaca_auth_builder_set_connect_timeout_ms, (b, 5000));
    CLEARS(alpaca_auth_builder_set_request_timeout_ms, (b, 10000));
    CLEARS(alpaca_auth_builder_set_token_budget_ms, (b, 20000));
    CLEARS(alpaca_auth_builder_set_max_wait_ms, (b, 20000));
    CLEARS(alpaca_auth_builder_set_refresh_ahead_min_ms, (b, ALPACA_AUTH_DEFAULT_REFRESH_AHEAD_MIN_MS));
    CLEARS(alpaca_auth_builder_set_refresh_ahead_fraction, (b, 0.25));
    CLEARS(alpaca_auth_builder_set_retry_max_attempts, (b, 3));
    CLEARS(alpaca_auth_builder_set_retry_initial_backoff_ms, (b, 100));
    CLEARS(alpaca_auth_builder_set_retry_max_backoff_ms, (b, 1000));
    CLEARS(alpaca_auth_builder_add_ca_bundle_pem, (b, ca, ca_len));
    CLEARS(alpaca_auth_builder_add_ca_bundle_file, (b, env("LAST_ERROR_CA")));
    CLEARS(alpaca_auth_builder_set_tls_roots, (b, "bundled"));
    CLEARS(alpaca_auth_builder_set_proxy, (b, "http://127.0.0.1:9"));
    CLEARS(alpaca_auth_builder_disable_proxy, (b));
    CLEARS(alpaca_auth_builder_set_background_refresh, (b, false));
    CLEARS(alpaca_auth_builder_set_event_callback, (b, on_event, NULL));
    alpaca_auth_client *c = NULL;
    CLEARS(alpaca_auth_builder_build, (b, &c));
    if (c == NULL) {
        return 1;
    }

    CLEARS(alpaca_auth_client_access_token, (c, buf, sizeof buf, &len));
    alpaca_auth_headers *headers = NULL;
    CLEARS(alpaca_auth_client_auth_headers, (c, &headers));
    KEEPS(alpaca_auth_headers_count, (headers));
    const char *line = NULL;
    CLEARS(alpaca_auth_headers_line, (headers, 0, &line));
    KEEPS(alpaca_auth_headers_free, (headers));
    KEEPS(alpaca_auth_client_header_count, (c));
    CLEARS(alpaca_auth_client_header_line, (c, 0, buf, sizeof buf, &len));
    CLEARS(alpaca_auth_client_try_header_line, (c, 0, buf, sizeof buf, &len));
    uint64_t remaining = 0;
    CLEARS(alpaca_auth_client_token_remaining_ms, (c, &remaining));
    const char *text0 = NULL;
    CLEARS(alpaca_auth_client_invalidate_presented, (c, "not-the-cached-token"));
    /* The former names, deprecated: still exported, still keeping the rule. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    CLEARS(alpaca_auth_client_invalidate_token, (c, "not-the-cached-token"));
    CLEARS(alpaca_auth_client_market_data_stream_url, (c, &text0));
#pragma GCC diagnostic pop
    CLEARS(alpaca_auth_client_invalidate, (c));
    const char *text = NULL;
    CLEARS(alpaca_auth_client_api_base_url, (c, &text));
    CLEARS(alpaca_auth_client_data_base_url, (c, &text));
    CLEARS(alpaca_auth_client_token_url, (c, &text));
    CLEARS(alpaca_auth_client_market_data_stream_base, (c, &text));
    CLEARS(alpaca_auth_client_trade_updates_stream_url, (c, &text));
    CLEARS(alpaca_auth_client_environment, (c, &text));
    bool uses_tokens = false;
    CLEARS(alpaca_auth_client_uses_tokens, (c, &uses_tokens));
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    CLEARS(alpaca_auth_client_stats, (c, &stats));
    alpaca_auth_store_status status = ALPACA_AUTH_STORE_STATUS_SHARED;
    CLEARS(alpaca_auth_client_token_store_status, (c, &status));
    CHECK(status == ALPACA_AUTH_STORE_STATUS_NONE);
    KEEPS(alpaca_auth_client_free, (c));

    alpaca_auth_client *from_env_client = NULL;
    CLEARS(alpaca_auth_client_new_from_env, (&from_env_client));
    KEEPS(alpaca_auth_client_free, (from_env_client));

    /* An API key client: the stream auth message. */
    alpaca_auth_builder *k = NULL;
    CLEARS(alpaca_auth_builder_new, (&k));
    CLEARS(alpaca_auth_builder_set_environment, (k, "paper"));
    CLEARS(alpaca_auth_builder_set_api_key,
           (k, env("LAST_ERROR_API_KEY_ID"), env("LAST_ERROR_API_SECRET_KEY")));
    alpaca_auth_client *keys = NULL;
    CLEARS(alpaca_auth_builder_build, (k, &keys));
    CLEARS(alpaca_auth_client_stream_auth_message, (keys, buf, sizeof buf, &len));
    memset(buf, 0, sizeof buf); /* it held the secret */
    KEEPS(alpaca_auth_client_free, (keys));

    /* Token store status: shared (the rule), unavailable (an exception). */
    alpaca_auth_builder *s = secret_builder(secret);
    CLEARS(alpaca_auth_builder_set_token_cache_dir, (s, env("LAST_ERROR_SHARED_DIR")));
    alpaca_auth_client *shared = build(s);
    CLEARS(alpaca_auth_client_token_store_status, (shared, &status));
    CHECK(status == ALPACA_AUTH_STORE_STATUS_SHARED);
    KEEPS(alpaca_auth_client_free, (shared));

    alpaca_auth_builder *o = secret_builder(secret);
    CLEARS(alpaca_auth_builder_set_token_cache_dir, (o, env("LAST_ERROR_OPEN_DIR")));
    alpaca_auth_client *unshared = build(o);
    REASON(alpaca_auth_client_token_store_status, (unshared, &status), "token store not used");
    CHECK(status == ALPACA_AUTH_STORE_STATUS_UNAVAILABLE);
    KEEPS(alpaca_auth_client_free, (unshared));

    /* Refresher status: healthy (the rule), after a failure (an
     * exception). */
    alpaca_auth_builder *h = secret_builder(secret);
    CLEARS(alpaca_auth_builder_set_background_refresh, (h, true));
    alpaca_auth_client *healthy = build(h);
    alpaca_auth_refresher_status refresher = {.struct_size = sizeof refresher};
    for (int i = 0; i < 500 && refresher.refreshes == 0; i++) {
        sleep_ms(10);
        CLEARS(alpaca_auth_client_refresher_status, (healthy, &refresher));
    }
    CHECK(refresher.refreshes > 0 && refresher.consecutive_failures == 0);
    KEEPS(alpaca_auth_client_free, (healthy));

    alpaca_auth_builder *f = secret_builder("not-the-secret");
    CLEARS(alpaca_auth_builder_set_background_refresh, (f, true));
    alpaca_auth_client *failing = build(f);
    refresher.consecutive_failures = 0;
    for (int i = 0; i < 500 && refresher.consecutive_failures == 0; i++) {
        sleep_ms(10);
        r = alpaca_auth_client_refresher_status(failing, &refresher);
        CHECK(r == ALPACA_AUTH_RESULT_OK);
    }
    CHECK(refresher.consecutive_failures > 0);
    REASON(alpaca_auth_client_refresher_status, (failing, &refresher), "background refresher");
    KEEPS(alpaca_auth_client_free, (failing));

    /* The doctor, with the APCA_* variables of a client-secret client (its
     * report and its needed length: tests/c/doctor.c). */
    static char report[ALPACA_AUTH_MAX_DOCTOR_REPORT];
    CLEARS(alpaca_auth_doctor_report, ("text", report, sizeof report, &len, NULL));

    free(key);
    free(ca);
    printf("last_error: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
