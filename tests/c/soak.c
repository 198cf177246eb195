/*
 * soak.c: 64 threads call alpaca_auth_client_header_line 10,000 times each
 * on one client (the shape of tests/soak.rs, through the C ABI), while the
 * mock issues 2-second tokens from a slow endpoint and fails every fifth
 * token request.
 *
 * Run by tests/c_abi.rs with the APCA_* variables of a client of the mock;
 * with SOAK_BACKGROUND set, the client refreshes in the background.
 * Prints "errors: N", "distinct tokens: N", "slow calls: N" (calls after
 * a thread's first that took 250 ms or more) and the client's stats.
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

#define THREADS 64
#define CALLS 10000
#define MAX_TOKENS 64
#define SLOW_NS 250000000LL

typedef struct {
    const alpaca_auth_client *client;
    pthread_barrier_t *start;
    long errors;
    long slow;
    int tokens;
    uint64_t seen[MAX_TOKENS];
} worker;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static void *run(void *arg) {
    worker *w = arg;
    char line[ALPACA_AUTH_MAX_HEADER_LINE];
    uint64_t last = 0;
    struct timespec pace = {0, 2000000L}; /* 2 ms after every second call */
    pthread_barrier_wait(w->start);
    for (int i = 0; i < CALLS; i++) {
        size_t needed = 0;
        int64_t t = now_ns();
        alpaca_auth_result r =
            alpaca_auth_client_header_line(w->client, 0, line, sizeof line, &needed);
        int64_t took = now_ns() - t;
        if (r != ALPACA_AUTH_RESULT_OK) {
            w->errors++;
            continue;
        }
        if (i > 0 && took >= SLOW_NS) {
            w->slow++;
        }
        uint64_t h = fnv1a(line);
        if (h != last) {
            last = h;
            bool known = false;
            for (int k = 0; k < w->tokens; k++) {
                known = known || w->seen[k] == h;
            }
            if (!known && w->tokens < MAX_TOKENS) {
                w->seen[w->tokens++] = h;
            }
        }
        if (i % 2 == 1) {
            nanosleep(&pace, NULL);
        }
    }
    memset(line, 0, sizeof line);
    return NULL;
}

int main(void) {
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    if (alpaca_auth_builder_new_from_env(&builder) != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_background_refresh(builder, getenv("SOAK_BACKGROUND") != NULL) !=
            ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_build(builder, &client) != ALPACA_AUTH_RESULT_OK) {
        char message[ALPACA_AUTH_MAX_ERROR_LEN];
        size_t needed = 0;
        alpaca_auth_last_error(message, sizeof message, &needed);
        fprintf(stderr, "setup failed: %s\n", message);
        return 1;
    }
    static worker workers[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        workers[i].client = client;
        workers[i].start = &start;
        pthread_create(&threads[i], NULL, run, &workers[i]);
    }
    long errors = 0, slow = 0;
    uint64_t all[THREADS * MAX_TOKENS];
    int distinct = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        errors += workers[i].errors;
        slow += workers[i].slow;
        for (int k = 0; k < workers[i].tokens; k++) {
            bool known = false;
            for (int j = 0; j < distinct; j++) {
                known = known || all[j] == workers[i].seen[k];
            }
            if (!known) {
                all[distinct++] = workers[i].seen[k];
            }
        }
    }
    pthread_barrier_destroy(&start);
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    alpaca_auth_client_stats(client, &stats);
    printf("calls: %d\n", THREADS * CALLS);
    printf("errors: %ld\n", errors);
    printf("distinct tokens: %d\n", distinct);
    printf("slow calls: %ld\n", slow);
    printf("token requests: %llu\n", (unsigned long long)stats.token_http_requests);
    alpaca_auth_client_free(client);
    return errors == 0 ? 0 : 1;
}
