/*
 * store_hang.c: a token store in C whose every callback sleeps far longer
 * than the token budget (a shared cache that stopped answering), given to
 * a client with a short budget. The header promises that a broken store
 * never fails a caller that could fetch: each blocking header call gets
 * its line within the longest wait, whether the store hangs once or keeps
 * hanging, and the library's threads stuck in the store stay bounded.
 *
 * Run by tests/c_abi.rs with HANG_TOKEN_URL, HANG_CLIENT_ID,
 * HANG_CLIENT_SECRET, HANG_SLEEP_MS (how long each callback sleeps) and
 * HANG_WAIT_MS (the budget and the longest wait). Prints one line per
 * header call, "header N after M ms", then "hang: N checks, M
 * failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alpaca_auth.h"

#include "check.h"

static long sleep_ms;

static void nap(void) {
    struct timespec ts = {.tv_sec = sleep_ms / 1000, .tv_nsec = (sleep_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint32_t hang_load(void *u, const char *k, char *b, size_t l, size_t *n, uint64_t *e,
                          uint64_t *t) {
    (void)u, (void)k, (void)b, (void)l, (void)e, (void)t;
    nap();
    *n = 0;
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t hang_publish(void *u, const char *k, const char *t, uint64_t e, uint64_t l) {
    (void)u, (void)k, (void)t, (void)e, (void)l;
    nap();
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t hang_try_lock(void *u, const char *k, bool *a) {
    (void)u, (void)k;
    nap();
    *a = true;
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t hang_unlock(void *u, const char *k) {
    (void)u, (void)k;
    nap();
    return ALPACA_AUTH_RESULT_OK;
}
static uint32_t hang_remove_if(void *u, const char *k, const char *t) {
    (void)u, (void)k, (void)t;
    nap();
    return ALPACA_AUTH_RESULT_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void) {
    sleep_ms = atol(env("HANG_SLEEP_MS"));
    long wait_ms = atol(env("HANG_WAIT_MS"));
    alpaca_auth_token_store store = {
        .struct_size = sizeof store,
        .user_data = NULL,
        .load = hang_load,
        .publish = hang_publish,
        .try_lock = hang_try_lock,
        .unlock = hang_unlock,
        .remove_if = hang_remove_if,
        .free_user_data = NULL,
    };
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    CHECK(alpaca_auth_builder_new(&builder) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_environment(builder, "broker-sandbox") == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_url(builder, env("HANG_TOKEN_URL")) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_client_secret(builder, env("HANG_CLIENT_ID"),
                                                env("HANG_CLIENT_SECRET")) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_budget_ms(builder, (uint64_t)wait_ms) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_max_wait_ms(builder, (uint64_t)wait_ms) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_store(builder, &store) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_build(builder, &client) == ALPACA_AUTH_RESULT_OK);

    /* The first token, then new ones after 401s while the store's earlier
     * calls are still stuck: each within the longest wait. */
    char line[ALPACA_AUTH_MAX_HEADER_LINE];
    for (int i = 0; i < 4; i++) {
        double started = now_ms();
        size_t len = 0;
        alpaca_auth_result got =
            alpaca_auth_client_header_line(client, 0, line, sizeof line, &len);
        double took = now_ms() - started;
        printf("header %d after %.0f ms\n", i, took);
        CHECK(got == ALPACA_AUTH_RESULT_OK);
        CHECK(took < (double)wait_ms);
        if (got == ALPACA_AUTH_RESULT_OK) {
            CHECK(alpaca_auth_client_invalidate_presented(client, line) == ALPACA_AUTH_RESULT_OK);
        }
    }
    /* The store was used, not skipped from the start. */
    alpaca_auth_store_status status = ALPACA_AUTH_STORE_STATUS_NONE;
    CHECK(alpaca_auth_client_token_store_status(client, &status) == ALPACA_AUTH_RESULT_OK);
    CHECK(status == ALPACA_AUTH_STORE_STATUS_SHARED);
    /* Freeing the client never waits for the stuck store calls. */
    double started = now_ms();
    alpaca_auth_client_free(client);
    CHECK(now_ms() - started < (double)wait_ms);
    printf("hang: %d checks, %d failed\n", checks, failed);
    fflush(stdout);
    /* The stuck store threads end with the process. */
    return failed == 0 ? 0 : 1;
}
