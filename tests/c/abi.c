/*
 * abi.c: the parts of the ABI that let it grow and that C callers size
 * buffers by: the version number, pointer out-parameters set to NULL on
 * failure, caller-allocated structs checked by struct_size (older and newer
 * callers alike), and the ALPACA_AUTH_MAX_* buffer sizes with the longest
 * token and key lines the library accepts.
 *
 * Run by tests/c_packaging.rs (under valgrind) against a mock that issues
 * tokens of exactly ALPACA_AUTH_MAX_TOKEN_LEN bytes, with:
 *   ABI_TOKEN_URL                       the mock's token endpoint
 *   ABI_CLIENT_ID, ABI_CLIENT_SECRET    a client_secret_post client of it
 * Prints "line length: N" for the bearer line and "abi: N checks, 0 failed".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpaca_auth.h"

#include "check.h"

#define BEARER_PREFIX "Authorization: Bearer "

static void version_number_matches_the_header(void) {
    CHECK(alpaca_auth_version_number() == ALPACA_AUTH_VERSION_NUMBER);
    CHECK(ALPACA_AUTH_VERSION_NUMBER == ALPACA_AUTH_VERSION_MAJOR * 1000000 +
                                            ALPACA_AUTH_VERSION_MINOR * 1000 +
                                            ALPACA_AUTH_VERSION_PATCH);
}

/* A failed call leaves NULL in a pointer out-parameter, whatever was there. */
static void failed_calls_leave_null_out_parameters(void) {
    static int sentinel;
    void *garbage = &sentinel;

    alpaca_auth_client *client = (alpaca_auth_client *)garbage;
    CHECK(alpaca_auth_builder_build(NULL, &client) == ALPACA_AUTH_RESULT_NULL_ARGUMENT);
    CHECK(client == NULL);

    alpaca_auth_builder *builder = NULL;
    CHECK(alpaca_auth_builder_new(&builder) == ALPACA_AUTH_RESULT_OK && builder != NULL);
    client = (alpaca_auth_client *)garbage;
    /* No credentials: refused, and the builder is consumed. */
    CHECK(alpaca_auth_builder_build(builder, &client) == ALPACA_AUTH_RESULT_CONFIG);
    CHECK(client == NULL);
    alpaca_auth_client_free(client); /* what a cleanup path does: a no-op */

    const char *text = (const char *)garbage;
    CHECK(alpaca_auth_client_api_base_url(NULL, &text) == ALPACA_AUTH_RESULT_NULL_ARGUMENT);
    CHECK(text == NULL);

    alpaca_auth_headers *headers = (alpaca_auth_headers *)garbage;
    CHECK(alpaca_auth_client_auth_headers(NULL, &headers) == ALPACA_AUTH_RESULT_NULL_ARGUMENT);
    CHECK(headers == NULL);
}

/* A struct the library would have written by its v1 layout, inside a larger
 * one: what a caller compiled against a newer header passes. */
struct newer_stats {
    alpaca_auth_stats stats;
    uint64_t field_of_a_later_version;
};

static void structs_are_written_within_struct_size(const alpaca_auth_client *client) {
    alpaca_auth_stats stats;
    memset(&stats, 0xAB, sizeof stats);
    stats.struct_size = 0; /* forgotten */
    CHECK(alpaca_auth_client_stats(client, &stats) == ALPACA_AUTH_RESULT_INVALID_ARGUMENT);
    CHECK(stats.token_fetches == UINT64_C(0xABABABABABABABAB));

    stats.struct_size = sizeof stats - 1; /* older than the first version: refused */
    CHECK(alpaca_auth_client_stats(client, &stats) == ALPACA_AUTH_RESULT_INVALID_ARGUMENT);

    alpaca_auth_stats current = {.struct_size = sizeof current};
    CHECK(alpaca_auth_client_stats(client, &current) == ALPACA_AUTH_RESULT_OK);
    CHECK(current.struct_size == sizeof current);
    CHECK(current.token_http_requests >= 1 && current.token_fetches >= 1);

    struct newer_stats newer;
    memset(&newer, 0xCD, sizeof newer);
    newer.stats.struct_size = sizeof newer;
    CHECK(alpaca_auth_client_stats(client, &newer.stats) == ALPACA_AUTH_RESULT_OK);
    CHECK(newer.stats.token_http_requests == current.token_http_requests);
    CHECK(newer.field_of_a_later_version == UINT64_C(0xCDCDCDCDCDCDCDCD));

    alpaca_auth_refresher_status status;
    memset(&status, 0, sizeof status);
    CHECK(alpaca_auth_client_refresher_status(client, &status) ==
          ALPACA_AUTH_RESULT_INVALID_ARGUMENT);
    status.struct_size = sizeof status;
    /* This client has no refresher: the struct is fine, the client says no. */
    CHECK(alpaca_auth_client_refresher_status(client, &status) == ALPACA_AUTH_RESULT_CONFIG);
}

/* The longest token the library accepts fits ALPACA_AUTH_MAX_TOKEN_LEN + 1
 * and its line ALPACA_AUTH_MAX_HEADER_LINE, exactly. */
static void a_maximal_token_fits_the_documented_buffers(const alpaca_auth_client *client) {
    static char token[ALPACA_AUTH_MAX_TOKEN_LEN + 1];
    size_t needed = 0;
    CHECK(alpaca_auth_client_access_token(client, token, sizeof token, &needed) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(needed == sizeof token && strlen(token) == ALPACA_AUTH_MAX_TOKEN_LEN);

    static char line[ALPACA_AUTH_MAX_HEADER_LINE];
    CHECK(alpaca_auth_client_header_line(client, 0, line, sizeof line, &needed) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(needed == strlen(BEARER_PREFIX) + ALPACA_AUTH_MAX_TOKEN_LEN + 1);
    CHECK(needed <= sizeof line);
    CHECK(strncmp(line, BEARER_PREFIX, strlen(BEARER_PREFIX)) == 0);
    printf("line length: %zu\n", strlen(line));
}

/* API key lines at the longest key ID and secret also fit. */
static void maximal_key_lines_fit(int basic) {
    char key_id[129];
    char secret[257];
    memset(key_id, 'K', sizeof key_id - 1);
    key_id[sizeof key_id - 1] = '\0';
    memset(secret, 's', sizeof secret - 1);
    secret[sizeof secret - 1] = '\0';

    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    CHECK(alpaca_auth_builder_new(&builder) == ALPACA_AUTH_RESULT_OK);
    CHECK((basic ? alpaca_auth_builder_set_api_key_basic(builder, key_id, secret)
                 : alpaca_auth_builder_set_api_key(builder, key_id, secret)) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_build(builder, &client) == ALPACA_AUTH_RESULT_OK);
    static char line[ALPACA_AUTH_MAX_HEADER_LINE];
    for (size_t i = 0; i < alpaca_auth_client_header_count(client); i++) {
        size_t needed = 0;
        CHECK(alpaca_auth_client_header_line(client, i, line, sizeof line, &needed) ==
              ALPACA_AUTH_RESULT_OK);
        CHECK(needed <= sizeof line);
    }
    alpaca_auth_client_free(client);
}

int main(void) {
    version_number_matches_the_header();
    failed_calls_leave_null_out_parameters();

    alpaca_auth_builder *builder = NULL;
    alpaca_auth_client *client = NULL;
    CHECK(alpaca_auth_builder_new(&builder) == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_environment(builder, "broker-sandbox") == ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_token_url(builder, env("ABI_TOKEN_URL")) ==
          ALPACA_AUTH_RESULT_OK);
    CHECK(alpaca_auth_builder_set_client_secret(builder, env("ABI_CLIENT_ID"),
                                                env("ABI_CLIENT_SECRET")) == ALPACA_AUTH_RESULT_OK);
    if (alpaca_auth_builder_build(builder, &client) != ALPACA_AUTH_RESULT_OK) {
        fprintf(stderr, "abi.c: the client does not build\n");
        return 1;
    }
    a_maximal_token_fits_the_documented_buffers(client);
    structs_are_written_within_struct_size(client);
    alpaca_auth_client_free(client);

    maximal_key_lines_fit(0);
    maximal_key_lines_fit(1);

    printf("abi: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
