/*
 * incidents.c: the incidents of the README's "Incidents" table that C
 * users meet, one per mode:
 *
 *   incidents storm   32 threads got a 401 for the same token and each
 *                     reports it within 0.5 s (alpaca_auth_client_invalidate_token,
 *                     half with the bare token, half with the header line).
 *
 * Prints "key: value" lines for tests/c_abi.rs; exit status 0 when every
 * call succeeded.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alpaca_auth.h"

#define THREADS 32
#define LINE_MAX_LEN 2048
#define BEARER "Authorization: Bearer "

static int fail(const char *what, alpaca_auth_result r) {
    char message[4097];
    size_t len = 0;
    if (alpaca_auth_last_error(message, sizeof message, &len) != ALPACA_AUTH_RESULT_OK) {
        message[0] = '\0';
    }
    fprintf(stderr, "%s: %s: %s\n", what, alpaca_auth_result_str(r), message);
    return 1;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static alpaca_auth_result header_line(const alpaca_auth_client *client, char *line) {
    size_t len = 0;
    return alpaca_auth_client_header_line(client, 0, line, LINE_MAX_LEN, &len);
}

/* ---- storm ---------------------------------------------------------- */

struct reporter {
    const alpaca_auth_client *client;
    pthread_barrier_t *start;
    const char *rejected_line; /* the line the API answered 401 to */
    int index;
    int failures;
    double slowest;
    char fresh[LINE_MAX_LEN];
};

static void *report_401(void *arg) {
    struct reporter *w = arg;
    pthread_barrier_wait(w->start);
    sleep_ms(w->index * 15L); /* 32 reports over 0.5 s */
    const char *presented = w->rejected_line;
    if (w->index % 2 == 1) {
        presented += strlen(BEARER); /* the bare token */
    }
    double asked = now_s();
    if (alpaca_auth_client_invalidate_token(w->client, presented) != ALPACA_AUTH_RESULT_OK) {
        w->failures++;
    }
    if (header_line(w->client, w->fresh) != ALPACA_AUTH_RESULT_OK) {
        w->failures++;
    }
    w->slowest = now_s() - asked;
    return NULL;
}

static int storm(const alpaca_auth_client *client) {
    char rejected[LINE_MAX_LEN];
    alpaca_auth_result r = header_line(client, rejected);
    if (r != ALPACA_AUTH_RESULT_OK) {
        return fail("first header line", r);
    }
    /* A report about some other token changes nothing. */
    if ((r = alpaca_auth_client_invalidate_token(client, "not-the-token")) != ALPACA_AUTH_RESULT_OK) {
        return fail("invalidate_token of another token", r);
    }
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    static struct reporter workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct reporter){.client = client, .start = &start, .rejected_line = rejected, .index = i};
        pthread_create(&threads[i], NULL, report_401, &workers[i]);
    }
    int failures = 0;
    int distinct = 0;
    int still_rejected = 0;
    double slowest = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        failures += workers[i].failures;
        if (workers[i].slowest > slowest) {
            slowest = workers[i].slowest;
        }
        if (strcmp(workers[i].fresh, rejected) == 0) {
            still_rejected++;
        }
        int seen = 0;
        for (int j = 0; j < i; j++) {
            seen |= strcmp(workers[j].fresh, workers[i].fresh) == 0;
        }
        distinct += !seen;
    }
    pthread_barrier_destroy(&start);
    alpaca_auth_stats stats;
    if ((r = alpaca_auth_client_stats(client, &stats)) != ALPACA_AUTH_RESULT_OK) {
        return fail("stats", r);
    }
    printf("reports: %d\n", THREADS);
    printf("failures: %d\n", failures);
    printf("served the rejected token: %d\n", still_rejected);
    printf("distinct new tokens: %d\n", distinct);
    printf("token requests: %llu\n", (unsigned long long)stats.token_http_requests);
    printf("slowest report + header ms: %.0f\n", slowest * 1000.0);
    return failures != 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_client_new_from_env(&client);
    if (r != ALPACA_AUTH_RESULT_OK) {
        return fail("client from the environment", r);
    }
    int status = 2;
    if (strcmp(mode, "storm") == 0) {
        status = storm(client);
    } else {
        fprintf(stderr, "usage: incidents storm\n");
    }
    alpaca_auth_client_free(client);
    return status;
}
