/*
 * incidents.c: the incidents of the "Incidents" table of docs/behaviour.md
 * that C users meet, one per mode:
 *
 *   incidents storm   32 threads got a 401 for the same token and each
 *                     reports it within 0.5 s (alpaca_auth_client_invalidate_presented,
 *                     half with the bare token, half with the header line).
 *
 * Prints "key: value" lines for tests/c_abi.rs; exit status 0 when every
 * call succeeded.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alpaca_auth.h"

#define THREADS 32
#define LINE_MAX_LEN 2048
#define BEARER "Authorization: Bearer "

static int fail(const char *what, alpaca_auth_result r) {
    char message[ALPACA_AUTH_MAX_ERROR_LEN];
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
    if (alpaca_auth_client_invalidate_presented(w->client, presented) != ALPACA_AUTH_RESULT_OK) {
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
    if ((r = alpaca_auth_client_invalidate_presented(client, "not-the-token")) != ALPACA_AUTH_RESULT_OK) {
        return fail("invalidate_presented of another token", r);
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
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
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

/* ---- fork ----------------------------------------------------------- */

static alpaca_auth_client *new_client(bool background) {
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_builder_new_from_env(&builder);
    if (r != ALPACA_AUTH_RESULT_OK) {
        fail("builder from the environment", r);
        return NULL;
    }
    if ((r = alpaca_auth_builder_set_background_refresh(builder, background)) != ALPACA_AUTH_RESULT_OK) {
        fail("background refresh", r);
        alpaca_auth_builder_free(builder);
        return NULL;
    }
    if ((r = alpaca_auth_builder_build(builder, &client)) != ALPACA_AUTH_RESULT_OK) {
        fail("build", r);
        return NULL;
    }
    return client;
}

/* In the child: exit status 0 if it got a header with at most one token
 * request of its own and freed the client at once. */
static void child(alpaca_auth_client *client, bool background) {
    alarm(20); /* a hung child fails the test instead of hanging it */
    char line[LINE_MAX_LEN];
    double asked = now_s();
    alpaca_auth_result r = header_line(client, line);
    double waited = now_s() - asked;
    if (r != ALPACA_AUTH_RESULT_OK) {
        fail("child: header line", r);
        _exit(10);
    }
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    if (alpaca_auth_client_stats(client, &stats) != ALPACA_AUTH_RESULT_OK || stats.token_http_requests > 1) {
        _exit(11);
    }
    if (background) {
        alpaca_auth_refresher_status status = {.struct_size = sizeof status};
        if (alpaca_auth_client_refresher_status(client, &status) != ALPACA_AUTH_RESULT_OK || !status.running) {
            _exit(12);
        }
    }
    double freeing = now_s();
    alpaca_auth_client_free(client);
    double freed = now_s() - freeing;
    if (freed > 0.5) {
        _exit(13);
    }
    if (waited > 10.0) {
        _exit(14);
    }
    _exit((int)stats.token_http_requests == 1 ? 0 : 15);
}

/* Forks; returns the child's exit status (or 100 + signal). */
static int fork_and_check(alpaca_auth_client *client, bool background) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        child(client, background);
    }
    if (pid < 0) {
        return 99;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

struct hammer {
    const alpaca_auth_client *client;
    volatile int stop;
};

static void *hammer_locks(void *arg) {
    struct hammer *h = arg;
    char line[LINE_MAX_LEN];
    for (unsigned i = 0; !h->stop; i++) {
        if (i % 64 == 0) {
            alpaca_auth_client_invalidate(h->client);
        }
        alpaca_auth_stats stats = {.struct_size = sizeof stats};
        (void)alpaca_auth_client_stats(h->client, &stats);
        (void)header_line(h->client, line);
    }
    return NULL;
}

static int report(const char *state, int status, int *failures) {
    printf("fork %s: %d\n", state, status);
    *failures += status != 0;
    return status;
}

static int forks(void) {
    int failures = 0;
    char line[LINE_MAX_LEN];

    /* Idle: a token cached, nothing under way. */
    alpaca_auth_client *client = new_client(false);
    if (client == NULL || header_line(client, line) != ALPACA_AUTH_RESULT_OK) {
        return 1;
    }
    report("idle", fork_and_check(client, false), &failures);
    alpaca_auth_client_free(client);

    /* The background refresher's first token request in flight (the
     * endpoint answers in 500 ms). */
    client = new_client(true);
    if (client == NULL) {
        return 1;
    }
    sleep_ms(100);
    report("first fetch in flight", fork_and_check(client, true), &failures);
    if (header_line(client, line) != ALPACA_AUTH_RESULT_OK) {
        failures++;
    }
    /* The refresher refreshing: 2 s tokens are refreshed after 1 s and the
     * request takes 500 ms; fork in the middle of it. */
    sleep_ms(1250);
    report("background refresher refreshing", fork_and_check(client, true), &failures);
    double freeing = now_s();
    alpaca_auth_client_free(client);
    printf("parent free ms: %.0f\n", (now_s() - freeing) * 1000.0);

    /* Other threads taking the client's locks (invalidate, stats, header
     * lines) while the process forks, ten times. */
    client = new_client(false);
    if (client == NULL) {
        return 1;
    }
    struct hammer h = {.client = client, .stop = 0};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&threads[i], NULL, hammer_locks, &h);
    }
    int lock_failures = 0;
    for (int i = 0; i < 10; i++) {
        sleep_ms(20);
        lock_failures += fork_and_check(client, false) != 0;
    }
    h.stop = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
    }
    report("locks held by other threads (10 forks)", lock_failures, &failures);
    if (header_line(client, line) != ALPACA_AUTH_RESULT_OK) {
        failures++;
    }
    alpaca_auth_client_free(client);
    printf("fork failures: %d\n", failures);
    return failures != 0;
}

/* ---- try ------------------------------------------------------------ */

static void count_events(const alpaca_auth_event *event, void *user_data) {
    _Atomic int *fetched = user_data;
    if (event->kind == ALPACA_AUTH_EVENT_KIND_TOKEN_FETCHED && event->duration_ms > 0) {
        atomic_fetch_add(fetched, 1);
    }
}

static int try_path(void) {
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_builder_new_from_env(&builder);
    if (r != ALPACA_AUTH_RESULT_OK) {
        return fail("builder", r);
    }
    if ((r = alpaca_auth_builder_set_max_wait_ms(builder, 0)) != ALPACA_AUTH_RESULT_CONFIG) {
        alpaca_auth_builder_free(builder);
        return fail("a zero wait is refused", r);
    }
    if ((r = alpaca_auth_builder_set_max_wait_ms(builder, 200)) != ALPACA_AUTH_RESULT_OK) {
        alpaca_auth_builder_free(builder);
        return fail("max wait", r);
    }
    static _Atomic int fetched = 0;
    if ((r = alpaca_auth_builder_set_event_callback(builder, count_events, &fetched)) != ALPACA_AUTH_RESULT_OK) {
        alpaca_auth_builder_free(builder);
        return fail("event callback", r);
    }
    if ((r = alpaca_auth_builder_build(builder, &client)) != ALPACA_AUTH_RESULT_OK) {
        return fail("build", r);
    }
    char line[LINE_MAX_LEN];
    size_t len = 12345;
    double asked = now_s();
    r = alpaca_auth_client_try_header_line(client, 0, line, sizeof line, &len);
    printf("first try: %s in ms: %.0f, len written: %s\n", alpaca_auth_result_str(r),
           (now_s() - asked) * 1000.0, len == 12345 ? "no" : "yes");
    asked = now_s();
    r = header_line(client, line);
    printf("blocking call: %s after ms: %.0f\n", alpaca_auth_result_str(r), (now_s() - asked) * 1000.0);
    int tries = 0;
    asked = now_s();
    while ((r = alpaca_auth_client_try_header_line(client, 0, line, sizeof line, &len)) ==
               ALPACA_AUTH_RESULT_WOULD_BLOCK &&
           now_s() - asked < 10.0) {
        tries++;
        sleep_ms(10);
    }
    printf("later try: %s, bearer: %s\n", alpaca_auth_result_str(r),
           strncmp(line, BEARER, strlen(BEARER)) == 0 ? "yes" : "no");
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    if ((r = alpaca_auth_client_stats(client, &stats)) != ALPACA_AUTH_RESULT_OK) {
        return fail("stats", r);
    }
    printf("token requests: %llu\n", (unsigned long long)stats.token_http_requests);
    uint64_t remaining_ms = 0;
    if ((r = alpaca_auth_client_token_remaining_ms(client, &remaining_ms)) != ALPACA_AUTH_RESULT_OK) {
        return fail("token remaining", r);
    }
    printf("remaining s: %llu\n", (unsigned long long)(remaining_ms / 1000));
    /* The event is reported just after the token is published. */
    for (int i = 0; i < 200 && atomic_load(&fetched) == 0; i++) {
        sleep_ms(10);
    }
    printf("token fetched events: %d\n", atomic_load(&fetched));
    alpaca_auth_client_free(client);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "fork") == 0) {
        return forks();
    }
    if (strcmp(mode, "try") == 0) {
        return try_path();
    }
    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_client_new_from_env(&client);
    if (r != ALPACA_AUTH_RESULT_OK) {
        return fail("client from the environment", r);
    }
    int status = 2;
    if (strcmp(mode, "storm") == 0) {
        status = storm(client);
    } else {
        fprintf(stderr, "usage: incidents storm|try|fork\n");
    }
    alpaca_auth_client_free(client);
    return status;
}
