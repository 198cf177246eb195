/*
 * quickstart.c: a client from the APCA_* environment variables, its
 * resolved URLs, and the headers that authorize an API request.
 *
 *   APCA_ENVIRONMENT=broker-sandbox APCA_CLIENT_ID=... APCA_CLIENT_SECRET=... ./quickstart
 *
 * Prints the header lines, secrets included: this is a demonstration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpaca_auth.h"

/* Prints the failed call, its result name and the thread's last error. */
static int fail(const char *what, alpaca_auth_result result) {
    char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t needed = 0;
    if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
        message[0] = '\0';
    }
    fprintf(stderr, "%s failed: %s (%u): %s\n", what, alpaca_auth_result_str(result),
            (unsigned)result, message);
    return 1;
}

int main(void) {
    printf("alpaca-auth %s (header %s)\n", alpaca_auth_version(), ALPACA_AUTH_VERSION);

    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_client_new_from_env(&client);
    if (r != ALPACA_AUTH_RESULT_OK) {
        return fail("alpaca_auth_client_new_from_env", r);
    }

    const char *environment = NULL, *api_base = NULL, *data_base = NULL, *token_url = NULL;
    if ((r = alpaca_auth_client_environment(client, &environment)) != ALPACA_AUTH_RESULT_OK ||
        (r = alpaca_auth_client_api_base_url(client, &api_base)) != ALPACA_AUTH_RESULT_OK ||
        (r = alpaca_auth_client_data_base_url(client, &data_base)) != ALPACA_AUTH_RESULT_OK ||
        (r = alpaca_auth_client_token_url(client, &token_url)) != ALPACA_AUTH_RESULT_OK) {
        alpaca_auth_client_free(client);
        return fail("reading the endpoints", r);
    }
    printf("environment: %s\napi base: %s\ndata base: %s\ntoken url: %s\n", environment,
           api_base, data_base, token_url[0] ? token_url : "(none)");

    /* The headers, one "Name: value" line each (curl_slist_append-ready). */
    alpaca_auth_headers *headers = NULL;
    r = alpaca_auth_client_auth_headers(client, &headers);
    if (r != ALPACA_AUTH_RESULT_OK) {
        alpaca_auth_client_free(client);
        return fail("alpaca_auth_client_auth_headers", r);
    }
    for (size_t i = 0; i < alpaca_auth_headers_count(headers); i++) {
        const char *line = NULL;
        if (alpaca_auth_headers_line(headers, i, &line) == ALPACA_AUTH_RESULT_OK) {
            printf("header: %s\n", line);
        }
    }
    alpaca_auth_headers_free(headers);

    /* With client credentials there is an access token: size the buffer
     * with a length query, then copy it. */
    bool uses_tokens = false;
    if (alpaca_auth_client_uses_tokens(client, &uses_tokens) == ALPACA_AUTH_RESULT_OK &&
        uses_tokens) {
        size_t needed = 0;
        char *token = NULL;
        r = alpaca_auth_client_access_token(client, NULL, 0, &needed);
        while (r == ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL) {
            char *bigger = realloc(token, needed);
            if (bigger == NULL) {
                break;
            }
            token = bigger;
            r = alpaca_auth_client_access_token(client, token, needed, &needed);
        }
        if (r != ALPACA_AUTH_RESULT_OK) {
            free(token);
            alpaca_auth_client_free(client);
            return fail("alpaca_auth_client_access_token", r);
        }
        printf("access token: %zu bytes\n", strlen(token));
        memset(token, 0, needed); /* a secret: wipe it */
        free(token);

        alpaca_auth_stats stats = {.struct_size = sizeof stats};
        if (alpaca_auth_client_stats(client, &stats) == ALPACA_AUTH_RESULT_OK) {
            printf("token requests: %llu\n", (unsigned long long)stats.token_http_requests);
        }
    }

    alpaca_auth_client_free(client);
    return 0;
}
