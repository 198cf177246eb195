/*
 * hammer.c: 32 threads share one client and ask for headers and tokens at
 * the same moment. However many threads ask, the client sends one token
 * request and every thread gets the same token.
 *
 *   APCA_ENVIRONMENT=broker-sandbox APCA_CLIENT_ID=... APCA_CLIENT_SECRET=... ./hammer [calls-per-thread]
 *
 * Exit status 0 when every call succeeded and all threads saw one token.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpaca_auth.h"

#define THREADS 32
#define TOKEN_MAX ALPACA_AUTH_MAX_TOKEN_LEN
#define BEARER "Authorization: Bearer "

struct worker {
    const alpaca_auth_client *client; /* shared by all threads */
    pthread_barrier_t *start;
    int calls;
    int failures;
    char token[TOKEN_MAX + 1];
    char error[512];
};

static void record_failure(struct worker *w, const char *what, alpaca_auth_result r) {
    char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t needed = 0;
    if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
        message[0] = '\0';
    }
    if (w->failures++ == 0) {
        snprintf(w->error, sizeof w->error, "%.60s: %.30s: %.400s", what, alpaca_auth_result_str(r),
                 message);
    }
}

static void *work(void *arg) {
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < w->calls; i++) {
        alpaca_auth_headers *headers = NULL;
        alpaca_auth_result r = alpaca_auth_client_auth_headers(w->client, &headers);
        if (r != ALPACA_AUTH_RESULT_OK) {
            record_failure(w, "auth_headers", r);
            continue;
        }
        const char *line = NULL;
        r = alpaca_auth_headers_line(headers, 0, &line);
        if (r != ALPACA_AUTH_RESULT_OK || alpaca_auth_headers_count(headers) != 1 ||
            strncmp(line, BEARER, strlen(BEARER)) != 0) {
            record_failure(w, "header line is not a bearer token", r);
            alpaca_auth_headers_free(headers);
            continue;
        }

        char token[TOKEN_MAX + 1];
        size_t needed = 0;
        r = alpaca_auth_client_access_token(w->client, token, sizeof token, &needed);
        if (r != ALPACA_AUTH_RESULT_OK) {
            record_failure(w, "access_token", r);
        } else if (strcmp(token, line + strlen(BEARER)) != 0) {
            record_failure(w, "the header and the token differ", r);
        } else if (w->token[0] == '\0') {
            memcpy(w->token, token, needed);
        } else if (strcmp(w->token, token) != 0) {
            record_failure(w, "the token changed between calls", r);
        }
        alpaca_auth_headers_free(headers);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 4;
    if (calls < 1) {
        calls = 1;
    }

    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_client_new_from_env(&client);
    if (r != ALPACA_AUTH_RESULT_OK) {
        char message[ALPACA_AUTH_MAX_ERROR_LEN];
        size_t needed = 0;
        if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
            message[0] = '\0';
        }
        fprintf(stderr, "alpaca_auth_client_new_from_env: %s: %s\n", alpaca_auth_result_str(r),
                message);
        return 1;
    }

    static struct worker workers[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        workers[t].client = client;
        workers[t].start = &start;
        workers[t].calls = calls;
        if (pthread_create(&threads[t], NULL, work, &workers[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    pthread_barrier_destroy(&start);

    int failures = 0, distinct = 0;
    for (int t = 0; t < THREADS; t++) {
        failures += workers[t].failures;
        if (workers[t].failures) {
            fprintf(stderr, "thread %d: %s\n", t, workers[t].error);
        }
        int seen = 0;
        for (int u = 0; u < t && !seen; u++) {
            seen = strcmp(workers[u].token, workers[t].token) == 0;
        }
        distinct += !seen && workers[t].token[0] != '\0';
    }

    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    r = alpaca_auth_client_stats(client, &stats);
    printf("threads: %d\n", THREADS);
    printf("calls: %d\n", THREADS * calls * 2);
    printf("failures: %d\n", failures);
    printf("distinct tokens: %d\n", distinct);
    printf("token fetches: %llu\n", (unsigned long long)stats.token_fetches);
    printf("token requests: %llu\n", (unsigned long long)stats.token_http_requests);

    for (int t = 0; t < THREADS; t++) {
        memset(workers[t].token, 0, sizeof workers[t].token);
    }
    alpaca_auth_client_free(client);
    return failures == 0 && distinct == 1 && r == ALPACA_AUTH_RESULT_OK ? 0 : 1;
}
