/*
 * refresher.c: a client with the background refresher, driven through the
 * header-line fast path across token rotations, then freed: the refresher
 * thread must be gone and nothing leaked.
 *
 * Run by tests/c_abi.rs (under valgrind) with the APCA_* variables of a
 * client_secret_post client of the mock, whose tokens live 2 s. Prints
 * "distinct tokens: N", "refreshes: N", "threads after free: same" and
 * exits 0 when every check passes.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alpaca_auth.h"

#define LINE_LEN ALPACA_AUTH_MAX_HEADER_LINE
/* The fast path runs until it has seen MIN_DISTINCT tokens (2-second
 * tokens refreshed about every second), or MAX_SECONDS pass: a count of
 * rotations, not a wall-clock figure, so a loaded machine under valgrind
 * only takes longer. */
#define MIN_DISTINCT 4
#define MAX_SECONDS 30.0

static int failures;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            failures++;                                                           \
            fprintf(stderr, "refresher.c:%d: check failed: %s: ", __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

static const char *last_error(void) {
    static char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t needed = 0;
    if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
        snprintf(message, sizeof message, "(alpaca_auth_last_error failed)");
    }
    return message;
}

static int thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    int count = 0;
    if (dir == NULL) {
        return -1;
    }
    for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
        if (entry->d_name[0] != '.') {
            count++;
        }
    }
    closedir(dir);
    return count;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    int threads_before = thread_count();

    alpaca_auth_builder *builder = NULL;
    alpaca_auth_result r = alpaca_auth_builder_new_from_env(&builder);
    CHECK(r == ALPACA_AUTH_RESULT_OK, "builder: %s", last_error());
    r = alpaca_auth_builder_set_background_refresh(builder, true);
    CHECK(r == ALPACA_AUTH_RESULT_OK, "set_background_refresh: %s", last_error());
    alpaca_auth_client *client = NULL;
    r = alpaca_auth_builder_build(builder, &client);
    if (r != ALPACA_AUTH_RESULT_OK) {
        fprintf(stderr, "build failed: %s\n", last_error());
        return 1;
    }
    CHECK(alpaca_auth_client_header_count(client) == 1, "one bearer line");

    /* The fast path, across rotations. */
    char line[LINE_LEN];
    char previous[LINE_LEN] = "";
    int distinct = 0;
    long calls = 0;
    double start = now_seconds();
    while (distinct < MIN_DISTINCT && now_seconds() - start < MAX_SECONDS) {
        size_t needed = 0;
        r = alpaca_auth_client_header_line(client, 0, line, sizeof line, &needed);
        calls++;
        if (r != ALPACA_AUTH_RESULT_OK) {
            CHECK(false, "header_line: %s: %s", alpaca_auth_result_str(r), last_error());
            break;
        }
        CHECK(needed == strlen(line) + 1, "needed %zu for a line of %zu", needed, strlen(line));
        CHECK(strncmp(line, "Authorization: Bearer ", 22) == 0, "%.30s", line);
        if (strcmp(line, previous) != 0) {
            distinct++;
            memcpy(previous, line, needed);
        }
        if (calls % 64 == 0) {
            sleep_ms(1);
        }
    }
    memset(line, 0, sizeof line);
    memset(previous, 0, sizeof previous);

    /* Edge cases of the copy. */
    size_t needed = 0;
    char tiny[1];
    r = alpaca_auth_client_header_line(client, 0, tiny, sizeof tiny, &needed);
    CHECK(r == ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL, "tiny buffer: %s", alpaca_auth_result_str(r));
    CHECK(needed > 22, "needed %zu", needed);
    r = alpaca_auth_client_header_line(client, 0, NULL, 0, &needed);
    CHECK(r == ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL, "length query: %s", alpaca_auth_result_str(r));
    r = alpaca_auth_client_header_line(client, 1, line, sizeof line, &needed);
    CHECK(r == ALPACA_AUTH_RESULT_INVALID_ARGUMENT, "index 1: %s", alpaca_auth_result_str(r));
    CHECK(strstr(last_error(), "out of range") != NULL, "%s", last_error());
    r = alpaca_auth_client_header_line(NULL, 0, line, sizeof line, &needed);
    CHECK(r == ALPACA_AUTH_RESULT_NULL_ARGUMENT, "NULL client: %s", alpaca_auth_result_str(r));
    CHECK(alpaca_auth_client_header_count(NULL) == 0, "NULL client count");

    alpaca_auth_refresher_status status = {.struct_size = sizeof status};
    r = alpaca_auth_client_refresher_status(client, &status);
    CHECK(r == ALPACA_AUTH_RESULT_OK, "refresher_status: %s", last_error());
    CHECK(status.running, "running");
    CHECK(status.consecutive_failures == 0, "failures %u: %s", status.consecutive_failures,
          last_error());
    r = alpaca_auth_client_refresher_status(client, NULL);
    CHECK(r == ALPACA_AUTH_RESULT_NULL_ARGUMENT, "NULL status_out");

    int threads_running = thread_count();
    alpaca_auth_client_free(client);
    int threads_after = thread_count();
    for (int i = 0; i < 100 && threads_after != threads_before; i++) {
        sleep_ms(10); /* the kernel reaps a joined thread a moment later */
        threads_after = thread_count();
    }

    printf("calls: %ld\n", calls);
    printf("distinct tokens: %d\n", distinct);
    printf("refreshes: %llu\n", (unsigned long long)status.refreshes);
    printf("threads while running: %+d\n", threads_running - threads_before);
    printf("threads after free: %s\n", threads_after == threads_before ? "same" : "different");
    if (failures != 0) {
        fprintf(stderr, "refresher.c: %d checks failed\n", failures);
        return 1;
    }
    return 0;
}
