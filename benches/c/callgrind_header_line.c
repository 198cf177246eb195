/*
 * Instructions of the cached header line through libalpaca_auth.so, beside
 * those of a bare memcpy of the same bytes: the program that
 * `benches/callgrind.sh` runs under `valgrind --tool=callgrind`.
 *
 * Usage: callgrind_header_line TOKEN_URL CLIENT_ID CLIENT_SECRET
 *
 * It gets one token from the mock's token endpoint (client_secret_post),
 * warms both sides up (lazy PLT binding, the thread-local slot), then calls
 * count_header_line (CALLS cached alpaca_auth_client_header_line calls) and
 * count_memcpy (CALLS memcpy calls of the same line, NUL included, through a
 * volatile function pointer so the compiler keeps each call). The script
 * counts only these two functions (--collect-atstart=no --toggle-collect)
 * and dumps after each, so each dump holds one loop, callees included.
 * Outside valgrind it only runs the loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alpaca_auth.h>

/* Calls per counted loop; callgrind.sh divides by the same number, which it
 * reads from the program's first output line. */
enum { CALLS = 10000, WARM_UP = 1000 };

static const alpaca_auth_client *client;
static char line[ALPACA_AUTH_MAX_HEADER_LINE];
static size_t line_len; /* terminating NUL included */
static char buf[ALPACA_AUTH_MAX_HEADER_LINE];

/* Read anew for every call: the compiler can neither inline memcpy nor
 * drop a call whose result it sees unused. */
static void *(*volatile copy_fn)(void *, const void *, size_t) = memcpy;

/* Prints what failed and the library's last error. */
static int fail(const char *what) {
    char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t len = 0;
    if (alpaca_auth_last_error(message, sizeof message, &len) != ALPACA_AUTH_RESULT_OK)
        message[0] = '\0';
    fprintf(stderr, "%s: %s\n", what, message);
    return 1;
}

/* The counted loops: their names are callgrind.sh's --toggle-collect and
 * --dump-after patterns. */
__attribute__((noinline)) void count_header_line(size_t calls) {
    for (size_t i = 0; i < calls; i++) {
        size_t needed = 0;
        if (alpaca_auth_client_header_line(client, 0, buf, sizeof buf, &needed) !=
            ALPACA_AUTH_RESULT_OK)
            abort();
        __asm__ volatile("" : : "r"(buf) : "memory");
    }
}

__attribute__((noinline)) void count_memcpy(size_t calls) {
    for (size_t i = 0; i < calls; i++) {
        copy_fn(buf, line, line_len);
        __asm__ volatile("" : : "r"(buf) : "memory");
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TOKEN_URL CLIENT_ID CLIENT_SECRET\n", argv[0]);
        return 2;
    }
    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *built = NULL;
    if (alpaca_auth_builder_new(&builder) != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_environment(builder, "broker-sandbox") != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_token_url(builder, argv[1]) != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_client_secret(builder, argv[2], argv[3]) != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_build(builder, &built) != ALPACA_AUTH_RESULT_OK)
        return fail("client");
    client = built;
    /* The one token request; every later call is served from the cache. */
    if (alpaca_auth_client_header_line(client, 0, line, sizeof line, &line_len) !=
        ALPACA_AUTH_RESULT_OK)
        return fail("first token");
    if (strncmp(line, "Authorization: Bearer ", 22) != 0) {
        fprintf(stderr, "unexpected header line: %.40s...\n", line);
        return 1;
    }
    printf("calls %d line %zu\n", CALLS, line_len - 1);
    fflush(stdout);

    /* Warm-up, outside the counted functions. */
    for (int i = 0; i < WARM_UP; i++) {
        size_t needed = 0;
        if (alpaca_auth_client_header_line(client, 0, buf, sizeof buf, &needed) !=
                ALPACA_AUTH_RESULT_OK ||
            needed != line_len || memcmp(buf, line, line_len) != 0)
            return fail("warm-up");
        copy_fn(buf, line, line_len);
    }
    count_header_line(CALLS);
    count_memcpy(CALLS);

    alpaca_auth_client_free(built);
    memset(line, 0, sizeof line);
    memset(buf, 0, sizeof buf);
    return 0;
}
