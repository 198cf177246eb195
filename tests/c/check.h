/*
 * check.h: what the C test programs that report "<name>: N checks, M
 * failed" share: the counting checks, their inputs. Include once per
 * program.
 *
 * CHECK(cond)                 counts a condition.
 * EXPECT(call, want, needle)  counts a call that must return `want`: on
 *                             success with no last error left, on failure
 *                             with a last error containing `needle` (unless
 *                             NULL). With CHECK_VERBOSE set in the
 *                             environment, prints each call, its result
 *                             and its last error.
 */
#ifndef ALPACA_AUTH_TEST_CHECK_H
#define ALPACA_AUTH_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpaca_auth.h"

static int checks;
static int failed;

/* Counts a check; on failure, prints the file, line and condition. */
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            failed++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

/* The value of a variable the test harness sets; exits 2 without it. */
static inline const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "%s is not set\n", name);
        exit(2);
    }
    return value;
}

/* The contents of a file of at most 64 KiB (malloc'ed; the caller frees
 * it); exits 2 if it cannot be read. */
static inline uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    uint8_t *data = malloc(65536);
    *len = data ? fread(data, 1, 65536, f) : 0;
    fclose(f);
    return data;
}

/* The calling thread's last error (a static buffer, overwritten by the
 * next call). */
static inline const char *last_error(void) {
    static char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t needed = 0;
    if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
        snprintf(message, sizeof message, "(alpaca_auth_last_error failed)");
    }
    return message;
}

static inline void expect_result(const char *file, int line, const char *call,
                                 alpaca_auth_result got, alpaca_auth_result want,
                                 const char *needle) {
    const char *message = last_error();
    checks++;
    if (getenv("CHECK_VERBOSE") != NULL) {
        printf("%s -> %s: %s\n", call, alpaca_auth_result_str(got), message);
    }
    if (got != want) {
        failed++;
        fprintf(stderr, "%s:%d: %s returned %s (%u), expected %s (%u); last error: %s\n", file,
                line, call, alpaca_auth_result_str(got), (unsigned)got,
                alpaca_auth_result_str(want), (unsigned)want, message);
    } else if (want == ALPACA_AUTH_RESULT_OK && message[0] != '\0') {
        failed++;
        fprintf(stderr, "%s:%d: %s succeeded but left a last error: %s\n", file, line, call,
                message);
    } else if (want != ALPACA_AUTH_RESULT_OK && needle != NULL && strstr(message, needle) == NULL) {
        failed++;
        fprintf(stderr, "%s:%d: %s: last error lacks \"%s\": %s\n", file, line, call, needle,
                message);
    }
}

#define EXPECT(call, want, needle) \
    expect_result(__FILE__, __LINE__, #call, (call), (want), (needle))

#endif
