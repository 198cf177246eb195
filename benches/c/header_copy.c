/*
 * The cached header line copied out through libalpaca_auth.so, side by side
 * with a plain memcpy of the same bytes, from C: what a C or C++ caller on
 * the order path pays. Run by `cargo bench --bench hot_path -- cached`,
 * which compiles it against the library cargo built and passes the mock's
 * token URL and client credentials.
 *
 * Usage: header_copy TOKEN_URL CLIENT_ID CLIENT_SECRET
 *
 * For 1 and 2 threads it runs both sides in alternating rounds (so machine
 * noise hits both alike) and prints the median ns per call of each and
 * their ratio. Nothing is asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <alpaca_auth.h>

enum { CALLS = 2000000, ROUNDS = 9, MAX_THREADS = 2 };

static const alpaca_auth_client *client;
static char line[ALPACA_AUTH_MAX_HEADER_LINE];
static size_t line_len; /* terminating NUL included */

struct side {
    int use_library; /* 1: alpaca_auth_client_header_line, 0: memcpy */
    pthread_barrier_t *start;
    double ns_per_call;
};

/* Prints what failed and the library's last error. */
static int fail(const char *what) {
    char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t len = 0;
    if (alpaca_auth_last_error(message, sizeof message, &len) != ALPACA_AUTH_RESULT_OK)
        message[0] = '\0';
    fprintf(stderr, "%s: %s\n", what, message);
    return 1;
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Out of line, so the compiler cannot fold the copy into the loop. */
__attribute__((noinline)) static void plain_copy(char *to, const char *from, size_t len) {
    memcpy(to, from, len);
}

static void *run_side(void *arg) {
    struct side *side = arg;
    char buf[ALPACA_AUTH_MAX_HEADER_LINE];
    pthread_barrier_wait(side->start);
    double started = now_ns();
    for (int i = 0; i < CALLS; i++) {
        if (side->use_library) {
            size_t needed = 0;
            if (alpaca_auth_client_header_line(client, 0, buf, sizeof buf, &needed) !=
                ALPACA_AUTH_RESULT_OK)
                abort();
        } else {
            plain_copy(buf, line, line_len);
        }
        __asm__ volatile("" : : "r"(buf) : "memory");
    }
    side->ns_per_call = (now_ns() - started) / CALLS;
    return NULL;
}

/* ns per call of one side on `threads` threads started together. */
static double measure(int use_library, int threads) {
    pthread_t ids[MAX_THREADS];
    struct side sides[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        sides[t] = (struct side){.use_library = use_library, .start = &start};
        if (pthread_create(&ids[t], NULL, run_side, &sides[t]) != 0)
            abort();
    }
    double sum = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        sum += sides[t].ns_per_call;
    }
    pthread_barrier_destroy(&start);
    return sum / threads;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
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
    if (alpaca_auth_client_header_line(client, 0, line, sizeof line, &line_len) !=
        ALPACA_AUTH_RESULT_OK)
        return fail("first token");
    printf("\ncached header line through libalpaca_auth.so from C (%zu-byte line), ns per call\n",
           line_len - 1);
    printf("%-56s %10s %10s\n", "", "1 thread", "2 threads");
    double library[MAX_THREADS], copy[MAX_THREADS];
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        double lib_ns[ROUNDS], copy_ns[ROUNDS];
        measure(1, threads); /* warm-up */
        measure(0, threads);
        for (int r = 0; r < ROUNDS; r++) {
            if (r % 2 == 0) {
                lib_ns[r] = measure(1, threads);
                copy_ns[r] = measure(0, threads);
            } else {
                copy_ns[r] = measure(0, threads);
                lib_ns[r] = measure(1, threads);
            }
        }
        qsort(lib_ns, ROUNDS, sizeof lib_ns[0], by_value);
        qsort(copy_ns, ROUNDS, sizeof copy_ns[0], by_value);
        library[threads - 1] = lib_ns[ROUNDS / 2];
        copy[threads - 1] = copy_ns[ROUNDS / 2];
    }
    printf("%-56s %10.1f %10.1f\n", "alpaca_auth_client_header_line (shared library)", library[0],
           library[1]);
    printf("%-56s %10.1f %10.1f\n", "floor: memcpy of the same line (with NUL)", copy[0], copy[1]);
    printf("C ABI via .so / memcpy: %.2fx on 1 thread, %.2fx on 2 threads (target <= 1.6x)\n",
           library[0] / copy[0], library[1] / copy[1]);
    alpaca_auth_client_free(built);
    memset(line, 0, sizeof line);
    return 0;
}
