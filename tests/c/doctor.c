/*
 * doctor.c: alpaca_auth_doctor_report from C, with the APCA_* variables of
 * a client-secret client of the mock server: a buffer too small
 * (BUFFER_TOO_SMALL with the needed length, the buffer untouched), the text and JSON reports in a buffer of
 * ALPACA_AUTH_MAX_DOCTOR_REPORT bytes, and the refused arguments.
 * Prints "doctor: N checks, M failed" and the text report, each line
 * prefixed with "report: ".
 */
#include <stdint.h>

#include "check.h"

static char report[ALPACA_AUTH_MAX_DOCTOR_REPORT];

int main(void) {
    size_t needed = 0;
    size_t failures = 99;

    /* A buffer too small: the needed length, the buffer untouched, no
     * failure count (written only on OK). (Each call runs every check.) */
    char small[16];
    memset(small, '#', sizeof small);
    EXPECT(alpaca_auth_doctor_report("text", small, sizeof small, &needed, &failures),
           ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL, "doctor report: ");
    CHECK(needed > 100 && needed <= ALPACA_AUTH_MAX_DOCTOR_REPORT);
    CHECK(small[0] == '#' && small[sizeof small - 1] == '#');
    CHECK(failures == 99);

    /* The text report: every check passes but the broker endpoint the mock
     * lacks (a warning). */
    EXPECT(alpaca_auth_doctor_report("text", report, sizeof report, &needed, &failures),
           ALPACA_AUTH_RESULT_OK, NULL);
    CHECK(failures == 0);
    CHECK(needed == strlen(report) + 1);
    CHECK(strstr(report, "[ ok ] token: Bearer token of ") != NULL);
    CHECK(strstr(report, ", 0 failed, ") != NULL);
    for (char *line = strtok(report, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        printf("report: %s\n", line);
    }

    /* JSON. */
    EXPECT(alpaca_auth_doctor_report("json", report, sizeof report, &needed, &failures),
           ALPACA_AUTH_RESULT_OK, NULL);
    CHECK(report[0] == '{' && strstr(report, "\"ok\":true") != NULL);

    /* Refused arguments. */
    EXPECT(alpaca_auth_doctor_report("yaml", report, sizeof report, &needed, NULL),
           ALPACA_AUTH_RESULT_INVALID_ARGUMENT, "format");
    EXPECT(alpaca_auth_doctor_report(NULL, report, sizeof report, &needed, NULL),
           ALPACA_AUTH_RESULT_NULL_ARGUMENT, "format");
    EXPECT(alpaca_auth_doctor_report("text", report, sizeof report, NULL, NULL),
           ALPACA_AUTH_RESULT_NULL_ARGUMENT, "len_out");
    EXPECT(alpaca_auth_doctor_report("text", NULL, 8, &needed, NULL),
           ALPACA_AUTH_RESULT_NULL_ARGUMENT, "buf");

    printf("doctor: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
