/*
 * check.h: the counting CHECK of the C test programs that report
 * "<name>: N checks, M failed". Include once per program, after stdio.h.
 */
#ifndef ALPACA_AUTH_TEST_CHECK_H
#define ALPACA_AUTH_TEST_CHECK_H

#include <stdio.h>

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

#endif
