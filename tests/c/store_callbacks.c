/*
 * store_callbacks.c: a token store implemented in C (an in-memory table
 * behind a mutex, standing in for a shared cache) given to two clients of
 * one credential, as two processes of a fleet would use a shared cache.
 * Checks that the second client takes the first one's token (one token
 * request), that the lock is taken and released, that a 401 reported with
 * alpaca_auth_client_invalidate removes the entry, that a store whose every
 * callback fails never fails a caller, and that free_user_data runs once per
 * successful set_token_store, when its client is freed (never for a refused
 * store).
 *
 * Run by tests/c_abi.rs under valgrind with STORE_TOKEN_URL,
 * STORE_CLIENT_ID and STORE_CLIENT_SECRET. Prints "store: N checks, 0
 * failed" and the callback counts.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alpaca_auth.h"

#include "check.h"

/* One entry and one lock: a single credential's slot of a shared cache. */
struct memory_store {
    pthread_mutex_t mutex;
    char key[65];
    char token[ALPACA_AUTH_MAX_TOKEN_LEN + 1];
    size_t token_len;
    uint64_t expires_at_unix_ms;
    uint64_t lifetime_ms;
    int locked;
    int loads, publishes, locks, unlocks, removes, frees;
};

static uint32_t mem_load(void *user_data, const char *key, char *token_buf,
                                   size_t token_buf_len, size_t *token_len_out,
                                   uint64_t *expires_at_unix_ms_out, uint64_t *lifetime_ms_out) {
    struct memory_store *s = user_data;
    pthread_mutex_lock(&s->mutex);
    s->loads++;
    *token_len_out = 0;
    if (s->token_len > 0 && strcmp(s->key, key) == 0 && s->token_len < token_buf_len) {
        memcpy(token_buf, s->token, s->token_len);
        *token_len_out = s->token_len;
        *expires_at_unix_ms_out = s->expires_at_unix_ms;
        *lifetime_ms_out = s->lifetime_ms;
    }
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_publish(void *user_data, const char *key, const char *token,
                                      uint64_t expires_at_unix_ms, uint64_t lifetime_ms) {
    struct memory_store *s = user_data;
    size_t len = strlen(token);
    if (strlen(key) != 64 || len > ALPACA_AUTH_MAX_TOKEN_LEN) {
        return ALPACA_AUTH_RESULT_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&s->mutex);
    s->publishes++;
    memcpy(s->key, key, 65);
    memcpy(s->token, token, len + 1);
    s->token_len = len;
    s->expires_at_unix_ms = expires_at_unix_ms;
    s->lifetime_ms = lifetime_ms;
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_try_lock(void *user_data, const char *key, bool *acquired_out) {
    struct memory_store *s = user_data;
    (void)key;
    pthread_mutex_lock(&s->mutex);
    *acquired_out = !s->locked;
    if (!s->locked) {
        s->locked = 1;
        s->locks++;
    }
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_unlock(void *user_data, const char *key) {
    struct memory_store *s = user_data;
    (void)key;
    pthread_mutex_lock(&s->mutex);
    s->locked = 0;
    s->unlocks++;
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static uint32_t mem_remove_if(void *user_data, const char *key, const char *token) {
    struct memory_store *s = user_data;
    pthread_mutex_lock(&s->mutex);
    if (s->token_len > 0 && strcmp(s->key, key) == 0 && strcmp(s->token, token) == 0) {
        memset(s->token, 0, sizeof s->token);
        s->token_len = 0;
        s->removes++;
    }
    pthread_mutex_unlock(&s->mutex);
    return ALPACA_AUTH_RESULT_OK;
}

static void mem_free(void *user_data) {
    struct memory_store *s = user_data;
    /* The test owns the memory and reads the count afterwards; the last
     * free may come from a library thread. */
    pthread_mutex_lock(&s->mutex);
    s->frees++;
    pthread_mutex_unlock(&s->mutex);
}

static int frees_seen(struct memory_store *s) {
    pthread_mutex_lock(&s->mutex);
    int frees = s->frees;
    pthread_mutex_unlock(&s->mutex);
    return frees;
}

static uint32_t fail_load(void *u, const char *k, char *b, size_t l, size_t *n,
                                    uint64_t *e, uint64_t *t) {
    (void)u, (void)k, (void)b, (void)l, (void)n, (void)e, (void)t;
    return 12345; /* a code the library does not know: a failure too */
}
static uint32_t fail_publish(void *u, const char *k, const char *t, uint64_t e,
                                       uint64_t l) {
    (void)u, (void)k, (void)t, (void)e, (void)l;
    return ALPACA_AUTH_RESULT_TRANSPORT;
}
static uint32_t fail_try_lock(void *u, const char *k, bool *a) {
    (void)u, (void)k, (void)a;
    return ALPACA_AUTH_RESULT_TRANSPORT;
}
static uint32_t fail_unlock(void *u, const char *k) {
    (void)u, (void)k;
    return ALPACA_AUTH_RESULT_TRANSPORT;
}

static alpaca_auth_client *client_with(const alpaca_auth_token_store *store) {
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    CHECK(alpaca_auth_builder_new(&builder) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_environment(builder, "broker-sandbox") == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_url(builder, getenv("STORE_TOKEN_URL")) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_client_secret(builder, getenv("STORE_CLIENT_ID"),
                                                getenv("STORE_CLIENT_SECRET")) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_store(builder, store) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_build(builder, &client) == ALPACA_AUTH_RESULT_OK);
    return client;
}

static uint64_t token_requests(const alpaca_auth_client *client) {
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    CHECK(alpaca_auth_client_stats(client, &stats) == ALPACA_AUTH_RESULT_OK);
    return stats.token_http_requests;
}

int main(void) {
    if (getenv("STORE_TOKEN_URL") == NULL || getenv("STORE_CLIENT_ID") == NULL ||
        getenv("STORE_CLIENT_SECRET") == NULL) {
        fprintf(stderr, "store_callbacks.c: STORE_* variables are not set\n");
        return 2;
    }
    static struct memory_store memory = {.mutex = PTHREAD_MUTEX_INITIALIZER};
    alpaca_auth_token_store store = {
        .struct_size = sizeof store,
        .user_data = &memory,
        .load = mem_load,
        .publish = mem_publish,
        .try_lock = mem_try_lock,
        .unlock = mem_unlock,
        .remove_if = mem_remove_if,
        .free_user_data = mem_free,
    };

    /* A store without a required callback is refused and not kept. */
    alpaca_auth_token_store incomplete = store;
    incomplete.unlock = NULL;
    alpaca_auth_builder *builder = NULL;
    CHECK(alpaca_auth_builder_new(&builder) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_store(builder, &incomplete) ==
          ALPACA_AUTH_RESULT_INVALID_ARGUMENT);
    incomplete.struct_size = 0;
    incomplete.unlock = mem_unlock;
    CHECK(alpaca_auth_builder_set_token_store(builder, &incomplete) ==
          ALPACA_AUTH_RESULT_INVALID_ARGUMENT);
    CHECK(alpaca_auth_builder_set_token_store(builder, NULL) == ALPACA_AUTH_RESULT_NULL_ARGUMENT);
    alpaca_auth_builder_free(builder);
    CHECK(memory.frees == 0);

    alpaca_auth_client *first = client_with(&store);
    alpaca_auth_client *second = client_with(&store);
    char a[ALPACA_AUTH_MAX_HEADER_LINE], b[ALPACA_AUTH_MAX_HEADER_LINE];
    size_t len = 0;
    CHECK(alpaca_auth_client_header_line(first, 0, a, sizeof a, &len) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_client_header_line(second, 0, b, sizeof b, &len) == ALPACA_AUTH_RESULT_OK);
    CHECK(strcmp(a, b) == 0);
    CHECK(token_requests(first) == 1 && token_requests(second) == 0);
    CHECK(memory.publishes == 1 && memory.locks == 1 && memory.unlocks == 1);
    CHECK(memory.locked == 0);

    /* A 401 for that token: the entry goes, the next fetch stores anew. */
    CHECK(alpaca_auth_client_invalidate(first) == ALPACA_AUTH_RESULT_OK);
    CHECK(memory.removes == 1 && memory.token_len == 0);
    CHECK(alpaca_auth_client_header_line(first, 0, a, sizeof a, &len) == ALPACA_AUTH_RESULT_OK);
    CHECK(strcmp(a, b) != 0 && memory.publishes == 2);

    /* Each successful set_token_store hands user_data over once: one free
     * per client, when that client goes, or when a fetch still finishing on
     * a library thread ends (within the token budget). */
    CHECK(memory.frees == 0);
    alpaca_auth_client_free(first);
    alpaca_auth_client_free(second);
    for (int i = 0; i < 500 && frees_seen(&memory) < 2; i++) {
        const struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(frees_seen(&memory) == 2);

    /* Every callback fails: callers get their token all the same. */
    alpaca_auth_token_store broken = {
        .struct_size = sizeof broken,
        .user_data = NULL,
        .load = fail_load,
        .publish = fail_publish,
        .try_lock = fail_try_lock,
        .unlock = fail_unlock,
    };
    alpaca_auth_client *fallback = client_with(&broken);
    CHECK(alpaca_auth_client_header_line(fallback, 0, a, sizeof a, &len) == ALPACA_AUTH_RESULT_OK);
    CHECK(token_requests(fallback) == 1);
    alpaca_auth_client_free(fallback);

    printf("callbacks: %d loads, %d publishes, %d locks, %d unlocks, %d removes, %d frees\n",
           memory.loads, memory.publishes, memory.locks, memory.unlocks, memory.removes,
           memory.frees);
    printf("store: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
