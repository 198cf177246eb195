/*
 * abuse.c: every function of alpaca_auth.h called the wrong way: NULL for
 * each pointer argument, zero-length and one-byte buffers, non-UTF-8
 * strings, an unknown environment, garbage keys and bundles, refused URLs,
 * and failed token requests. Each call must return its documented code and
 * leave a last error that says what was wrong; nothing may crash or leak.
 *
 * Run by tests/c_abi.rs (under valgrind) with:
 *   ABUSE_TOKEN_URL   the mock's token endpoint
 *   ABUSE_KEY_PEM     a P-256 PKCS#8 PEM file registered with the mock
 *   ABUSE_KEY_DER     a DER key file
 *   ABUSE_JWT_CLIENT  the client ID that key is registered under
 *   ABUSE_CLIENT_ID, ABUSE_CLIENT_SECRET   a client_secret_post client of the mock
 *   ABUSE_API_KEY_ID, ABUSE_API_SECRET     an API key pair
 *   ABUSE_PLATFORM_VERIFIER   set when the library has the platform-verifier feature
 * Prints "abuse: N checks, 0 failed" and exits 0 when all pass; with
 * CHECK_VERBOSE set, also each call with its result and last error.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpaca_auth.h"
#include "check.h"

#define OK ALPACA_AUTH_RESULT_OK
#define NUL_ARG ALPACA_AUTH_RESULT_NULL_ARGUMENT
#define BAD_UTF8 ALPACA_AUTH_RESULT_INVALID_UTF8
#define TOO_SMALL ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL
#define BAD_ARG ALPACA_AUTH_RESULT_INVALID_ARGUMENT
#define CONFIG ALPACA_AUTH_RESULT_CONFIG

static const char NOT_UTF8[] = {'a', (char)0xff, (char)0xfe, 'z', '\0'};
static const uint8_t GARBAGE[] = "this is not a key at all, just some text\n";

static alpaca_auth_builder *fresh(void) {
    alpaca_auth_builder *b = NULL;
    if (alpaca_auth_builder_new(&b) != OK) {
        fprintf(stderr, "abuse: alpaca_auth_builder_new failed\n");
        exit(2);
    }
    return b;
}

/* A client of the mock, or exit. */
static alpaca_auth_client *mock_client(const char *client_id, const char *secret) {
    alpaca_auth_builder *b = fresh();
    alpaca_auth_client *c = NULL;
    if (alpaca_auth_builder_set_environment(b, "broker-sandbox") != OK ||
        alpaca_auth_builder_set_token_url(b, env("ABUSE_TOKEN_URL")) != OK ||
        alpaca_auth_builder_set_client_secret(b, client_id, secret) != OK) {
        fprintf(stderr, "abuse: configuring a mock client failed: %s\n", last_error());
        exit(2);
    }
    if (alpaca_auth_builder_build(b, &c) != OK) {
        fprintf(stderr, "abuse: building a mock client failed: %s\n", last_error());
        exit(2);
    }
    return c;
}

static void versions(void) {
    CHECK(strcmp(alpaca_auth_version(), ALPACA_AUTH_VERSION) == 0);
    CHECK(strcmp(alpaca_auth_result_str(ALPACA_AUTH_RESULT_OK), "ok") == 0);
    CHECK(strcmp(alpaca_auth_result_str(ALPACA_AUTH_RESULT_OAUTH), "oauth") == 0);
    CHECK(strcmp(alpaca_auth_result_str(ALPACA_AUTH_RESULT_PANIC), "panic") == 0);
    CHECK(strcmp(alpaca_auth_result_str(12345), "unknown") == 0);
    CHECK(strcmp(alpaca_auth_result_str(UINT32_MAX), "unknown") == 0);
}

static void null_handles(void) {
    uint8_t key[1] = {0};
    alpaca_auth_client *client = NULL;

    EXPECT(alpaca_auth_builder_new(NULL), NUL_ARG, "builder_out is NULL");
    EXPECT(alpaca_auth_builder_new_from_env(NULL), NUL_ARG, "builder_out is NULL");
    EXPECT(alpaca_auth_client_new_from_env(NULL), NUL_ARG, "client_out is NULL");
    alpaca_auth_builder_free(NULL);
    alpaca_auth_client_free(NULL);
    alpaca_auth_headers_free(NULL);

    EXPECT(alpaca_auth_builder_set_environment(NULL, "paper"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_api_key(NULL, "K", "S"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_api_key_basic(NULL, "K", "S"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_client_secret(NULL, "C", "S"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_client_private_key(NULL, "C", key, 1), NUL_ARG,
           "builder is NULL");
    EXPECT(alpaca_auth_builder_set_assertion_kid(NULL, "k"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_api_base_url(NULL, "https://a.example"), NUL_ARG,
           "builder is NULL");
    EXPECT(alpaca_auth_builder_set_data_base_url(NULL, "https://a.example"), NUL_ARG,
           "builder is NULL");
    EXPECT(alpaca_auth_builder_set_token_url(NULL, "https://a.example/t"), NUL_ARG,
           "builder is NULL");
    EXPECT(alpaca_auth_builder_set_connect_timeout_ms(NULL, 1000), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_request_timeout_ms(NULL, 1000), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_token_budget_ms(NULL, 1000), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_add_ca_bundle_pem(NULL, key, 1), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_proxy(NULL, "http://127.0.0.1:3128"), NUL_ARG,
           "builder is NULL");
    EXPECT(alpaca_auth_builder_disable_proxy(NULL), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_set_tls_roots(NULL, "bundled"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(NULL, "ca.pem"), NUL_ARG, "builder is NULL");
    EXPECT(alpaca_auth_builder_build(NULL, &client), NUL_ARG, "builder is NULL");
    CHECK(client == NULL);

    const char *s = NULL;
    char buf[8];
    size_t len = 0;
    bool flag = false;
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    alpaca_auth_headers *headers = NULL;
    EXPECT(alpaca_auth_client_access_token(NULL, buf, sizeof buf, &len), NUL_ARG,
           "client is NULL");
    EXPECT(alpaca_auth_client_auth_headers(NULL, &headers), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_invalidate(NULL), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_api_base_url(NULL, &s), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_data_base_url(NULL, &s), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_token_url(NULL, &s), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_environment(NULL, &s), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_uses_tokens(NULL, &flag), NUL_ARG, "client is NULL");
    EXPECT(alpaca_auth_client_stats(NULL, &stats), NUL_ARG, "client is NULL");
    CHECK(s == NULL && headers == NULL && len == 0);

    EXPECT(alpaca_auth_headers_line(NULL, 0, &s), NUL_ARG, "headers is NULL");
    CHECK(alpaca_auth_headers_count(NULL) == 0);
    EXPECT(alpaca_auth_last_error(buf, sizeof buf, NULL), NUL_ARG, NULL);
}

static void builder_arguments(void) {
    alpaca_auth_builder *b = fresh();
    const uint8_t *no_bytes = NULL;

    /* NULL for each pointer argument, then non-UTF-8 for each string. */
    EXPECT(alpaca_auth_builder_set_environment(b, NULL), NUL_ARG, "name is NULL");
    EXPECT(alpaca_auth_builder_set_environment(b, NOT_UTF8), BAD_UTF8, "name is not valid UTF-8");
    EXPECT(alpaca_auth_builder_set_api_key(b, NULL, "S"), NUL_ARG, "key_id is NULL");
    EXPECT(alpaca_auth_builder_set_api_key(b, "K", NULL), NUL_ARG, "secret is NULL");
    EXPECT(alpaca_auth_builder_set_api_key(b, NOT_UTF8, "S"), BAD_UTF8, "key_id is not valid UTF-8");
    EXPECT(alpaca_auth_builder_set_api_key(b, "K", NOT_UTF8), BAD_UTF8, "secret is not valid UTF-8");
    EXPECT(alpaca_auth_builder_set_api_key_basic(b, NULL, "S"), NUL_ARG, "key_id is NULL");
    EXPECT(alpaca_auth_builder_set_api_key_basic(b, "K", NULL), NUL_ARG, "secret is NULL");
    EXPECT(alpaca_auth_builder_set_api_key_basic(b, NOT_UTF8, "S"), BAD_UTF8, "key_id");
    EXPECT(alpaca_auth_builder_set_api_key_basic(b, "K", NOT_UTF8), BAD_UTF8, "secret");
    EXPECT(alpaca_auth_builder_set_client_secret(b, NULL, "S"), NUL_ARG, "client_id is NULL");
    EXPECT(alpaca_auth_builder_set_client_secret(b, "C", NULL), NUL_ARG, "secret is NULL");
    EXPECT(alpaca_auth_builder_set_client_secret(b, NOT_UTF8, "S"), BAD_UTF8, "client_id");
    EXPECT(alpaca_auth_builder_set_client_secret(b, "C", NOT_UTF8), BAD_UTF8, "secret");
    EXPECT(alpaca_auth_builder_set_client_private_key(b, NULL, GARBAGE, sizeof GARBAGE), NUL_ARG,
           "client_id is NULL");
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", NULL, 10), NUL_ARG, "key is NULL");
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", no_bytes, 0), NUL_ARG, "key is NULL");
    EXPECT(alpaca_auth_builder_set_client_private_key(b, NOT_UTF8, GARBAGE, sizeof GARBAGE),
           BAD_UTF8, "client_id");
    EXPECT(alpaca_auth_builder_set_assertion_kid(b, NULL), NUL_ARG, "kid is NULL");
    EXPECT(alpaca_auth_builder_set_assertion_kid(b, NOT_UTF8), BAD_UTF8, "kid");
    EXPECT(alpaca_auth_builder_set_assertion_kid(b, ""), BAD_ARG, "kid is empty");
    EXPECT(alpaca_auth_builder_set_api_base_url(b, NULL), NUL_ARG, "url is NULL");
    EXPECT(alpaca_auth_builder_set_data_base_url(b, NULL), NUL_ARG, "url is NULL");
    EXPECT(alpaca_auth_builder_set_token_url(b, NULL), NUL_ARG, "url is NULL");
    EXPECT(alpaca_auth_builder_set_api_base_url(b, NOT_UTF8), BAD_UTF8, "url");
    EXPECT(alpaca_auth_builder_set_data_base_url(b, NOT_UTF8), BAD_UTF8, "url");
    EXPECT(alpaca_auth_builder_set_token_url(b, NOT_UTF8), BAD_UTF8, "url");
    EXPECT(alpaca_auth_builder_add_ca_bundle_pem(b, NULL, 5), NUL_ARG, "pem is NULL");
    EXPECT(alpaca_auth_builder_set_proxy(b, NULL), NUL_ARG, "url is NULL");
    EXPECT(alpaca_auth_builder_set_proxy(b, NOT_UTF8), BAD_UTF8, "url");
    EXPECT(alpaca_auth_builder_set_tls_roots(b, NULL), NUL_ARG, "name is NULL");
    EXPECT(alpaca_auth_builder_set_tls_roots(b, NOT_UTF8), BAD_UTF8, "name");
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(b, NULL), NUL_ARG, "path is NULL");
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(b, NOT_UTF8), BAD_UTF8, "path");
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(b, ""), BAD_ARG, "path is empty");

    /* Values that parse but are refused, each with its reason. */
    EXPECT(alpaca_auth_builder_set_environment(b, "nowhere"), CONFIG, "unknown environment");
    EXPECT(alpaca_auth_builder_set_environment(b, ""), CONFIG, "unknown environment");
    EXPECT(alpaca_auth_builder_set_environment(b, "Broker_Sandbox"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", GARBAGE, sizeof GARBAGE),
           ALPACA_AUTH_RESULT_INVALID_KEY, "key");
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", GARBAGE, 0),
           ALPACA_AUTH_RESULT_INVALID_KEY, "empty");
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", (const uint8_t *)"0", 1),
           ALPACA_AUTH_RESULT_INVALID_KEY, "key");
    EXPECT(alpaca_auth_builder_set_api_base_url(b, "ftp://example.com"), CONFIG, "ftp");
    EXPECT(alpaca_auth_builder_set_api_base_url(b, "http://example.com"), CONFIG, "http");
    EXPECT(alpaca_auth_builder_set_data_base_url(b, ""), CONFIG, "URL");
    EXPECT(alpaca_auth_builder_set_token_url(b, "https://user:pw@example.com/t"), CONFIG, NULL);
    EXPECT(alpaca_auth_builder_set_api_base_url(b, "https://api.example.com/"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_connect_timeout_ms(b, 0), CONFIG, "connect timeout");
    EXPECT(alpaca_auth_builder_set_request_timeout_ms(b, 600001), CONFIG, "request timeout");
    EXPECT(alpaca_auth_builder_set_token_budget_ms(b, 0), CONFIG, "token budget");
    EXPECT(alpaca_auth_builder_set_token_budget_ms(b, 600000), OK, NULL);
    EXPECT(alpaca_auth_builder_add_ca_bundle_pem(b, GARBAGE, sizeof GARBAGE), CONFIG,
           "no PEM certificate");
    EXPECT(alpaca_auth_builder_add_ca_bundle_pem(b, GARBAGE, 0), CONFIG, "no PEM certificate");
    EXPECT(alpaca_auth_builder_add_ca_bundle_pem(b, GARBAGE, 1), CONFIG, "no PEM certificate");
    static const char BAD_PEM[] =
        "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n";
    EXPECT(alpaca_auth_builder_add_ca_bundle_pem(b, (const uint8_t *)BAD_PEM, sizeof BAD_PEM - 1),
           CONFIG, "CA bundle");
    EXPECT(alpaca_auth_builder_set_proxy(b, ""), BAD_ARG, "empty");
    EXPECT(alpaca_auth_builder_disable_proxy(b), OK, NULL);
    EXPECT(alpaca_auth_builder_set_tls_roots(b, "system"), CONFIG, "unknown TLS roots");
    EXPECT(alpaca_auth_builder_set_tls_roots(b, "Bundled"), OK, NULL);
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(b, "/nonexistent/ca.pem"), CONFIG,
           "cannot read \"/nonexistent/ca.pem\"");
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(b, "/"), CONFIG, "not a regular file");
    /* A key file is no bundle: the message names the file, not its bytes. */
    EXPECT(alpaca_auth_builder_add_ca_bundle_file(b, getenv("ABUSE_KEY_PEM")), CONFIG,
           "holds no certificate");
    alpaca_auth_builder_free(b);

    /* Build failures consume the builder (valgrind checks nothing leaks). */
    alpaca_auth_client *client = NULL;
    b = fresh();
    EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "no credentials");
    CHECK(client == NULL);

    b = fresh();
    EXPECT(alpaca_auth_builder_set_api_key(b, "PKID", "secret"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, NULL), NUL_ARG, "client_out is NULL");

    b = fresh();
    EXPECT(alpaca_auth_builder_set_api_key(b, "PKID", "secret"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_kid(b, "key-1"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "kid");

    b = fresh();
    EXPECT(alpaca_auth_builder_set_api_key(b, "PKID", "has space"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "API secret key");

    b = fresh();
    EXPECT(alpaca_auth_builder_set_client_secret(b, "not-a-client-id", "s"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "client ID");

    b = fresh();
    EXPECT(alpaca_auth_builder_set_client_secret(b, "ABCDEFGHIJ0123456789", "s"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "not available for the Trading API");

    b = fresh();
    EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_secret(b, "ABCDEFGHIJ0123456789", "s"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_proxy(b, "not a proxy url"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "proxy");
    CHECK(client == NULL);

    /* A library built without the platform-verifier feature refuses the
     * platform's verifier by name, at build. */
    if (getenv("ABUSE_PLATFORM_VERIFIER") == NULL) {
        b = fresh();
        EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), OK, NULL);
        EXPECT(alpaca_auth_builder_set_client_secret(b, "ABCDEFGHIJ0123456789", "s"), OK, NULL);
        EXPECT(alpaca_auth_builder_set_tls_roots(b, "platform"), OK, NULL);
        EXPECT(alpaca_auth_builder_build(b, &client), CONFIG, "platform-verifier feature");
        CHECK(client == NULL);
    }
}

static void copy_out_buffers(alpaca_auth_client *client) {
    size_t needed = 0, again = 0;
    EXPECT(alpaca_auth_client_access_token(client, NULL, 0, &needed), TOO_SMALL,
           "bytes are needed");
    CHECK(needed > 1);

    char one[1] = {'#'};
    EXPECT(alpaca_auth_client_access_token(client, one, 1, &again), TOO_SMALL, "too small");
    CHECK(one[0] == '#' && again == needed);
    EXPECT(alpaca_auth_client_access_token(client, one, 0, &again), TOO_SMALL, "too small");
    CHECK(one[0] == '#');
    EXPECT(alpaca_auth_client_access_token(client, NULL, 5, &again), NUL_ARG, "buf");
    EXPECT(alpaca_auth_client_access_token(client, one, 1, NULL), NUL_ARG, "len_out is NULL");
    CHECK(one[0] == '#');

    char *token = malloc(needed);
    memset(token, '#', needed);
    EXPECT(alpaca_auth_client_access_token(client, token, needed - 1, &again), TOO_SMALL, NULL);
    CHECK(token[0] == '#' && token[needed - 2] == '#');
    EXPECT(alpaca_auth_client_access_token(client, token, needed, &again), OK, NULL);
    CHECK(again == needed && strlen(token) == needed - 1);
    free(token);

    /* The last error: length query, one byte, NULL arguments; reading it
     * leaves it unchanged. */
    EXPECT(alpaca_auth_client_invalidate(NULL), NUL_ARG, "client is NULL");
    size_t message_len = 0;
    CHECK(alpaca_auth_last_error(NULL, 0, &message_len) == TOO_SMALL);
    CHECK(message_len == strlen("alpaca_auth_client_invalidate: client is NULL") + 1);
    char tiny[1] = {'#'};
    CHECK(alpaca_auth_last_error(tiny, 1, &needed) == TOO_SMALL && tiny[0] == '#');
    CHECK(alpaca_auth_last_error(tiny, 0, &needed) == TOO_SMALL && tiny[0] == '#');
    CHECK(alpaca_auth_last_error(NULL, 3, &needed) == NUL_ARG);
    CHECK(alpaca_auth_last_error(tiny, 1, NULL) == NUL_ARG);
    char full[128];
    CHECK(alpaca_auth_last_error(full, sizeof full, &needed) == OK && needed == message_len);
    CHECK(strcmp(full, "alpaca_auth_client_invalidate: client is NULL") == 0);
    /* A success clears it. */
    EXPECT(alpaca_auth_client_invalidate(client), OK, NULL);
    CHECK(alpaca_auth_last_error(full, sizeof full, &needed) == OK && needed == 1 && full[0] == 0);
}

static void client_outputs(alpaca_auth_client *client) {
    EXPECT(alpaca_auth_client_auth_headers(client, NULL), NUL_ARG, "headers_out is NULL");
    EXPECT(alpaca_auth_client_api_base_url(client, NULL), NUL_ARG, "url_out is NULL");
    EXPECT(alpaca_auth_client_data_base_url(client, NULL), NUL_ARG, "url_out is NULL");
    EXPECT(alpaca_auth_client_token_url(client, NULL), NUL_ARG, "url_out is NULL");
    EXPECT(alpaca_auth_client_environment(client, NULL), NUL_ARG, "name_out is NULL");
    EXPECT(alpaca_auth_client_uses_tokens(client, NULL), NUL_ARG, "uses_tokens_out is NULL");
    EXPECT(alpaca_auth_client_stats(client, NULL), NUL_ARG, "stats_out is NULL");

    alpaca_auth_headers *headers = NULL;
    EXPECT(alpaca_auth_client_auth_headers(client, &headers), OK, NULL);
    CHECK(alpaca_auth_headers_count(headers) == 1);
    const char *line = "untouched";
    EXPECT(alpaca_auth_headers_line(headers, 1, &line), BAD_ARG, "out of range");
    CHECK(line == NULL); /* a failed call leaves NULL in a pointer output */
    line = "untouched";
    EXPECT(alpaca_auth_headers_line(headers, (size_t)-1, &line), BAD_ARG, "out of range");
    CHECK(line == NULL);
    EXPECT(alpaca_auth_headers_line(headers, 0, NULL), NUL_ARG, "line_out is NULL");
    EXPECT(alpaca_auth_headers_line(headers, 0, &line), OK, NULL);
    CHECK(strncmp(line, "Authorization: Bearer ", 22) == 0);
    alpaca_auth_headers_free(headers);

    const char *name = NULL;
    bool uses_tokens = false;
    alpaca_auth_stats stats = {.struct_size = sizeof stats};
    EXPECT(alpaca_auth_client_environment(client, &name), OK, NULL);
    CHECK(name != NULL && strcmp(name, "broker-sandbox") == 0);
    EXPECT(alpaca_auth_client_uses_tokens(client, &uses_tokens), OK, NULL);
    CHECK(uses_tokens);
    EXPECT(alpaca_auth_client_stats(client, &stats), OK, NULL);
    CHECK(stats.token_fetches >= 1 && stats.token_http_requests >= 1);
}

static void api_key_clients(void) {
    alpaca_auth_builder *b = fresh();
    alpaca_auth_client *client = NULL;
    EXPECT(alpaca_auth_builder_set_api_key(b, env("ABUSE_API_KEY_ID"), env("ABUSE_API_SECRET")),
           OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), OK, NULL);
    size_t needed = 0;
    EXPECT(alpaca_auth_client_access_token(client, NULL, 0, &needed), CONFIG, "no access token");
    CHECK(needed == 0);
    const char *url = NULL, *name = NULL;
    EXPECT(alpaca_auth_client_token_url(client, &url), OK, NULL);
    CHECK(url != NULL && url[0] == '\0');
    EXPECT(alpaca_auth_client_environment(client, &name), OK, NULL);
    CHECK(strcmp(name, "paper") == 0);
    bool uses_tokens = true;
    alpaca_auth_stats stats = {sizeof stats, 1, 1, 1};
    EXPECT(alpaca_auth_client_uses_tokens(client, &uses_tokens), OK, NULL);
    EXPECT(alpaca_auth_client_stats(client, &stats), OK, NULL);
    CHECK(!uses_tokens && stats.token_fetches == 0 && stats.token_http_requests == 0);
    EXPECT(alpaca_auth_client_invalidate(client), OK, NULL);
    alpaca_auth_headers *headers = NULL;
    EXPECT(alpaca_auth_client_auth_headers(client, &headers), OK, NULL);
    CHECK(alpaca_auth_headers_count(headers) == 2);
    const char *line = NULL;
    EXPECT(alpaca_auth_headers_line(headers, 0, &line), OK, NULL);
    CHECK(strncmp(line, "APCA-API-KEY-ID: ", 17) == 0);
    EXPECT(alpaca_auth_headers_line(headers, 2, &line), BAD_ARG, "2 lines");
    alpaca_auth_headers_free(headers);
    alpaca_auth_client_free(client);

    b = fresh();
    EXPECT(alpaca_auth_builder_set_api_key_basic(b, "PKID", "sec"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), OK, NULL);
    EXPECT(alpaca_auth_client_auth_headers(client, &headers), OK, NULL);
    EXPECT(alpaca_auth_headers_line(headers, 0, &line), OK, NULL);
    CHECK(strcmp(line, "Authorization: Basic UEtJRDpzZWM=") == 0);
    alpaca_auth_headers_free(headers);
    alpaca_auth_client_free(client);
}

static void failed_token_requests(void) {
    /* A wrong secret: the OAuth code and HTTP status, never the secret. */
    alpaca_auth_client *client = mock_client(env("ABUSE_CLIENT_ID"), "WRONGsecretCANARY");
    size_t needed = 0;
    EXPECT(alpaca_auth_client_access_token(client, NULL, 0, &needed), ALPACA_AUTH_RESULT_OAUTH,
           "invalid_client");
    CHECK(needed == 0);
    EXPECT(alpaca_auth_client_access_token(client, NULL, 0, &needed), ALPACA_AUTH_RESULT_OAUTH,
           "HTTP 401");
    CHECK(strstr(last_error(), "CANARY") == NULL);
    alpaca_auth_headers *headers = NULL;
    EXPECT(alpaca_auth_client_auth_headers(client, &headers), ALPACA_AUTH_RESULT_OAUTH,
           "invalid_client");
    CHECK(headers == NULL);
    alpaca_auth_client_free(client);

    /* Nothing listens on port 1: a transport failure within the budget. */
    alpaca_auth_builder *b = fresh();
    EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_url(b, "http://127.0.0.1:1/v1/oauth2/token"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_secret(b, env("ABUSE_CLIENT_ID"), "s"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_connect_timeout_ms(b, 500), OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_budget_ms(b, 1500), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), OK, NULL);
    alpaca_auth_result r = alpaca_auth_client_access_token(client, NULL, 0, &needed);
    CHECK(r == ALPACA_AUTH_RESULT_TRANSPORT || r == ALPACA_AUTH_RESULT_TIMEOUT);
    CHECK(strstr(last_error(), "alpaca_auth_client_access_token: ") == last_error());
    alpaca_auth_client_free(client);
}

static void private_keys(void) {
    size_t pem_len = 0, der_len = 0;
    uint8_t *pem = read_file(env("ABUSE_KEY_PEM"), &pem_len);
    uint8_t *der = read_file(env("ABUSE_KEY_DER"), &der_len);
    alpaca_auth_builder *b = fresh();
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", der, der_len), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", der, der_len / 2),
           ALPACA_AUTH_RESULT_INVALID_KEY, NULL);
    EXPECT(alpaca_auth_builder_set_client_private_key(b, "C", pem, pem_len / 2),
           ALPACA_AUTH_RESULT_INVALID_KEY, NULL);
    alpaca_auth_builder_free(b);

    /* private_key_jwt against the mock; with a kid, which the mock refuses
     * (as Alpaca is reported to), the kid must reach the assertion. */
    for (int with_kid = 0; with_kid < 2; with_kid++) {
        alpaca_auth_client *client = NULL;
        b = fresh();
        if (with_kid) {
            EXPECT(alpaca_auth_builder_set_assertion_kid(b, "key-1"), OK, NULL);
        }
        EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), OK, NULL);
        EXPECT(alpaca_auth_builder_set_token_url(b, env("ABUSE_TOKEN_URL")), OK, NULL);
        EXPECT(alpaca_auth_builder_set_client_private_key(b, env("ABUSE_JWT_CLIENT"), pem, pem_len),
               OK, NULL);
        EXPECT(alpaca_auth_builder_build(b, &client), OK, NULL);
        char token[ALPACA_AUTH_MAX_TOKEN_LEN + 1];
        size_t needed = 0;
        if (with_kid) {
            EXPECT(alpaca_auth_client_access_token(client, token, sizeof token, &needed),
                   ALPACA_AUTH_RESULT_OAUTH, "kid");
        } else {
            EXPECT(alpaca_auth_client_access_token(client, token, sizeof token, &needed), OK, NULL);
            CHECK(needed > 1 && strlen(token) == needed - 1);
        }
        alpaca_auth_client_free(client);
    }
    memset(pem, 0, pem_len);
    free(pem);
    free(der);
}

/* The last error is per thread: a failure here is not seen over there. */
static void *other_thread(void *arg) {
    (void)arg;
    static char message[64];
    size_t needed = 0;
    message[0] = 'x';
    if (alpaca_auth_last_error(message, sizeof message, &needed) != OK || needed != 1) {
        return NULL;
    }
    return message;
}

static void thread_local_errors(void) {
    EXPECT(alpaca_auth_builder_set_environment(NULL, "paper"), NUL_ARG, "builder is NULL");
    pthread_t thread;
    void *seen = NULL;
    CHECK(pthread_create(&thread, NULL, other_thread, NULL) == 0);
    CHECK(pthread_join(thread, &seen) == 0);
    CHECK(seen != NULL && ((char *)seen)[0] == '\0');
    CHECK(strstr(last_error(), "builder is NULL") != NULL);
}

int main(void) {
    versions();
    null_handles();
    builder_arguments();

    alpaca_auth_client *client = mock_client(env("ABUSE_CLIENT_ID"), env("ABUSE_CLIENT_SECRET"));
    copy_out_buffers(client);
    client_outputs(client);
    alpaca_auth_client_free(client);

    api_key_clients();
    failed_token_requests();
    private_keys();
    thread_local_errors();

    printf("abuse: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
