/*
 * prefork.c: a prefork server's life with a shared token store. The parent
 * builds one client (client_secret_post, tokens shared through
 * PREFORK_CACHE_DIR), forks PREFORK_CHILDREN workers, and each worker puts
 * the Authorization line on a request every few milliseconds for
 * PREFORK_SECONDS while tokens rotate. Every call must succeed; the token
 * endpoint should see one request per rotation, not one per worker.
 *
 * Run by tests/c_abi.rs with PREFORK_TOKEN_URL, PREFORK_CLIENT_ID,
 * PREFORK_CLIENT_SECRET, PREFORK_CACHE_DIR, PREFORK_CHILDREN and
 * PREFORK_SECONDS. Prints "workers: N ok, M failed; calls: C".
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alpaca_auth.h"

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || *value == '\0') {
        fprintf(stderr, "prefork.c: %s is not set\n", name);
        exit(2);
    }
    return value;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A worker: header lines until the time is up; exit 0 if all succeeded. */
static int worker(const alpaca_auth_client *client, double seconds) {
    char line[ALPACA_AUTH_MAX_HEADER_LINE];
    const struct timespec pause = {0, 5 * 1000 * 1000};
    const double end = now() + seconds;
    long calls = 0;
    while (now() < end) {
        size_t len = 0;
        alpaca_auth_result r = alpaca_auth_client_header_line(client, 0, line, sizeof line, &len);
        if (r != ALPACA_AUTH_RESULT_OK) {
            char message[ALPACA_AUTH_MAX_ERROR_LEN];
            size_t needed = 0;
            alpaca_auth_last_error(message, sizeof message, &needed);
            fprintf(stderr, "worker %d: %s: %s\n", (int)getpid(), alpaca_auth_result_str(r),
                    message);
            return 1;
        }
        calls++;
        nanosleep(&pause, NULL);
    }
    /* The exit status carries success; the call count goes to stdout. */
    printf("calls %ld\n", calls);
    return 0;
}

int main(void) {
    const int children = atoi(env("PREFORK_CHILDREN"));
    const double seconds = atof(env("PREFORK_SECONDS"));

    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    if (alpaca_auth_builder_new(&builder) != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_environment(builder, "broker-sandbox") != ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_token_url(builder, env("PREFORK_TOKEN_URL")) !=
            ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_client_secret(builder, env("PREFORK_CLIENT_ID"),
                                              env("PREFORK_CLIENT_SECRET")) !=
            ALPACA_AUTH_RESULT_OK ||
        alpaca_auth_builder_set_token_cache_dir(builder, env("PREFORK_CACHE_DIR")) !=
            ALPACA_AUTH_RESULT_OK) {
        fprintf(stderr, "prefork.c: configuring the builder failed\n");
        alpaca_auth_builder_free(builder);
        return 1;
    }
    if (alpaca_auth_builder_build(builder, &client) != ALPACA_AUTH_RESULT_OK) {
        fprintf(stderr, "prefork.c: the client does not build\n");
        return 1;
    }
    fflush(stdout);

    int ok = 0, failed = 0;
    for (int i = 0; i < children; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int status = worker(client, seconds);
            fflush(stdout);
            _exit(status);
        }
        if (pid < 0) {
            perror("fork");
            failed++;
        }
    }
    for (int i = 0; i < children; i++) {
        int status = 0;
        if (wait(&status) < 0) {
            break;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            ok++;
        } else {
            failed++;
        }
    }
    printf("workers: %d ok, %d failed\n", ok, failed);
    alpaca_auth_client_free(client);
    return failed == 0 && ok == children ? 0 : 1;
}
