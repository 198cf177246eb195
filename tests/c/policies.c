/*
 * policies.c: the refresh and retry policies set from C take effect, and
 * refused values leave the builder unchanged.
 *
 * Run by tests/c_abi.rs with POLICY_TOKEN_URL, POLICY_CLIENT_ID and
 * POLICY_CLIENT_SECRET naming a client of the mock, and POLICY_MODE:
 *   refresh  tokens live 4 s. With the default policy a token is due for
 *            refresh after 2 s (half its life); with ahead_min 0 and
 *            fraction 0, only at its expiry margin (0.4 s before expiry).
 *            A call after 2.5 s starts the refresh of a due token;
 *            0.5 s later, prints "refresh requests: default D, late L".
 *   retry    every token request fails with 503. Prints "retry requests:
 *            default D, two T" (default attempts, then 2 attempts).
 * Both print "policies: N checks, M failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <time.h>

#include "check.h"

static alpaca_auth_builder *new_builder(void) {
    alpaca_auth_builder *builder = NULL;
    EXPECT(alpaca_auth_builder_new(&builder), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_url(builder, env("POLICY_TOKEN_URL")),
           ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_secret(builder, env("POLICY_CLIENT_ID"),
                                                 env("POLICY_CLIENT_SECRET")),
           ALPACA_AUTH_RESULT_OK, NULL);
    return builder;
}

static alpaca_auth_client *build(alpaca_auth_builder *builder) {
    alpaca_auth_client *client = NULL;
    EXPECT(alpaca_auth_builder_build(builder, &client), ALPACA_AUTH_RESULT_OK, NULL);
    return client;
}

static uint64_t http_requests(const alpaca_auth_client *client) {
    alpaca_auth_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    EXPECT(alpaca_auth_client_stats(client, &stats), ALPACA_AUTH_RESULT_OK, NULL);
    return stats.token_http_requests;
}

static alpaca_auth_result header(alpaca_auth_client *client) {
    char line[ALPACA_AUTH_MAX_HEADER_LINE];
    size_t len = 0;
    return alpaca_auth_client_header_line(client, 0, line, sizeof line, &len);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Every refused value: CONFIG with a reason, and the builder still builds
 * with the defaults. */
static void refused_values(void) {
    alpaca_auth_builder *builder = new_builder();
    EXPECT(alpaca_auth_builder_set_refresh_ahead_fraction(builder, 1.5),
           ALPACA_AUTH_RESULT_CONFIG, "from 0 to 1");
    EXPECT(alpaca_auth_builder_set_refresh_ahead_fraction(builder, -0.1),
           ALPACA_AUTH_RESULT_CONFIG, "from 0 to 1");
    EXPECT(alpaca_auth_builder_set_refresh_ahead_fraction(builder, NAN),
           ALPACA_AUTH_RESULT_CONFIG, "from 0 to 1");
    EXPECT(alpaca_auth_builder_set_refresh_ahead_min_ms(builder, UINT64_MAX / 2),
           ALPACA_AUTH_RESULT_CONFIG, "refresh-ahead minimum");
    EXPECT(alpaca_auth_builder_set_retry_max_attempts(builder, 0), ALPACA_AUTH_RESULT_CONFIG,
           "at least one attempt");
    EXPECT(alpaca_auth_builder_set_retry_initial_backoff_ms(builder,
                                                            ALPACA_AUTH_MAX_TIMEOUT_MS + 1),
           ALPACA_AUTH_RESULT_CONFIG, "initial retry backoff");
    EXPECT(alpaca_auth_builder_set_retry_max_backoff_ms(builder, ALPACA_AUTH_MAX_TIMEOUT_MS + 1),
           ALPACA_AUTH_RESULT_CONFIG, "longest retry backoff");
    EXPECT(alpaca_auth_builder_set_retry_max_attempts(NULL, 2), ALPACA_AUTH_RESULT_NULL_ARGUMENT,
           "builder");
    alpaca_auth_client *client = build(builder);
    CHECK(client != NULL);
    alpaca_auth_client_free(client);
}

static void refresh(void) {
    alpaca_auth_client *fresh = build(new_builder());
    alpaca_auth_builder *builder = new_builder();
    EXPECT(alpaca_auth_builder_set_refresh_ahead_min_ms(builder, 0), ALPACA_AUTH_RESULT_OK,
           NULL);
    EXPECT(alpaca_auth_builder_set_refresh_ahead_fraction(builder, 0.0), ALPACA_AUTH_RESULT_OK,
           NULL);
    alpaca_auth_client *late = build(builder);
    if (fresh == NULL || late == NULL) {
        return;
    }
    EXPECT(header(fresh), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(header(late), ALPACA_AUTH_RESULT_OK, NULL);
    sleep_ms(2500);
    EXPECT(header(fresh), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(header(late), ALPACA_AUTH_RESULT_OK, NULL);
    /* A token due for refresh but still valid is handed out while the
     * refresh runs: give it time to be sent. */
    sleep_ms(500);
    printf("refresh requests: default %llu, late %llu\n",
           (unsigned long long)http_requests(fresh), (unsigned long long)http_requests(late));
    alpaca_auth_client_free(fresh);
    alpaca_auth_client_free(late);
}

static void retry(void) {
    alpaca_auth_builder *builder = new_builder();
    /* Short backoffs, so the default attempts fit quickly. */
    EXPECT(alpaca_auth_builder_set_retry_initial_backoff_ms(builder, 1), ALPACA_AUTH_RESULT_OK,
           NULL);
    EXPECT(alpaca_auth_builder_set_retry_max_backoff_ms(builder, 2), ALPACA_AUTH_RESULT_OK, NULL);
    alpaca_auth_client *fallback = build(builder);
    builder = new_builder();
    EXPECT(alpaca_auth_builder_set_retry_max_attempts(builder, 2), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(alpaca_auth_builder_set_retry_initial_backoff_ms(builder, 1), ALPACA_AUTH_RESULT_OK,
           NULL);
    EXPECT(alpaca_auth_builder_set_retry_max_backoff_ms(builder, 2), ALPACA_AUTH_RESULT_OK, NULL);
    alpaca_auth_client *two = build(builder);
    if (fallback == NULL || two == NULL) {
        return;
    }
    CHECK(header(fallback) != ALPACA_AUTH_RESULT_OK);
    CHECK(header(two) != ALPACA_AUTH_RESULT_OK);
    printf("retry requests: default %llu, two %llu\n",
           (unsigned long long)http_requests(fallback), (unsigned long long)http_requests(two));
    alpaca_auth_client_free(fallback);
    alpaca_auth_client_free(two);
}

int main(void) {
    const char *mode = env("POLICY_MODE");
    refused_values();
    if (strcmp(mode, "refresh") == 0) {
        refresh();
    } else if (strcmp(mode, "retry") == 0) {
        retry();
    } else {
        fprintf(stderr, "unknown POLICY_MODE %s\n", mode);
        return 2;
    }
    printf("policies: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
