/*
 * curl_example.c: the libcurl pattern. The auth header lines go straight
 * into a curl_slist; after a 401 the token is invalidated and the request
 * is sent once more with a fresh one.
 *
 *   APCA_ENVIRONMENT=broker-sandbox APCA_CLIENT_ID=... APCA_CLIENT_SECRET=... ./curl_example [path]
 *
 * GETs <api base URL><path> (default /v2/account) and prints the status.
 * Built only where libcurl's headers exist (see the Makefile).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "alpaca_auth.h"

static size_t discard(char *data, size_t size, size_t count, void *user) {
    (void)data;
    (void)user;
    return size * count;
}

/* Prints the failed call, its result name and the thread's last error. */
static void report(const char *what, alpaca_auth_result result) {
    char message[ALPACA_AUTH_MAX_ERROR_LEN];
    size_t needed = 0;
    if (alpaca_auth_last_error(message, sizeof message, &needed) != ALPACA_AUTH_RESULT_OK) {
        message[0] = '\0';
    }
    fprintf(stderr, "%s: %s: %s\n", what, alpaca_auth_result_str(result), message);
}

/* One GET with the client's current headers; returns the HTTP status, or
 * -1 after printing why there is none. */
static long get(const alpaca_auth_client *client, const char *url) {
    alpaca_auth_headers *headers = NULL;
    alpaca_auth_result r = alpaca_auth_client_auth_headers(client, &headers);
    if (r != ALPACA_AUTH_RESULT_OK) {
        report("no auth headers", r);
        return -1;
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < alpaca_auth_headers_count(headers); i++) {
        const char *line = NULL;
        if (alpaca_auth_headers_line(headers, i, &line) == ALPACA_AUTH_RESULT_OK) {
            list = curl_slist_append(list, line); /* curl copies the line */
        }
    }
    alpaca_auth_headers_free(headers);

    long status = -1;
    CURL *curl = curl_easy_init();
    if (curl != NULL) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        CURLcode rc = curl_easy_perform(curl);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        } else {
            fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
        }
        curl_easy_cleanup(curl);
    }
    curl_slist_free_all(list);
    return status;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/v2/account";
    alpaca_auth_client *client = NULL;
    alpaca_auth_result r = alpaca_auth_client_new_from_env(&client);
    if (r != ALPACA_AUTH_RESULT_OK) {
        report("alpaca_auth_client_new_from_env", r);
        return 1;
    }
    const char *base = NULL;
    char url[4096];
    if ((r = alpaca_auth_client_api_base_url(client, &base)) != ALPACA_AUTH_RESULT_OK) {
        report("alpaca_auth_client_api_base_url", r);
        alpaca_auth_client_free(client);
        return 1;
    }
    if (snprintf(url, sizeof url, "%s%s", base, path) >= (int)sizeof url) {
        fprintf(stderr, "the URL is longer than %zu bytes\n", sizeof url - 1);
        alpaca_auth_client_free(client);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    long status = get(client, url);
    if (status == 401) {
        /* The token was refused: drop it and try once more with a new one. */
        alpaca_auth_client_invalidate(client);
        status = get(client, url);
    }
    printf("GET %s: %ld\n", path, status);
    curl_global_cleanup();
    alpaca_auth_client_free(client);
    return status >= 200 && status < 300 ? 0 : 1;
}
