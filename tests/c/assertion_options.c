/*
 * assertion_options.c: the assertion options, the scope and the API key
 * styles set from C, against a mock that follows the IETF update of
 * RFC 7523 (its issuer identifier as the one audience, typ
 * client-authentication+jwt).
 *
 * Run by tests/c_abi.rs (under valgrind) with:
 *   OPT_TOKEN_URL   the mock's token endpoint
 *   OPT_ISSUER      the mock's issuer identifier
 *   OPT_KEY_PEM     a P-256 PKCS#8 PEM file registered with the mock
 *   OPT_JWT_CLIENT  the client ID that key is registered under
 * and the APCA_* variables of the same client with APCA_ASSERTION_TYP set.
 * Prints "options: N checks, 0 failed" and exits 0 when all pass.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpaca_auth.h"
#include "check.h"

#define OK ALPACA_AUTH_RESULT_OK

int main(void) {
    const char *token_url = env("OPT_TOKEN_URL");
    const char *issuer = env("OPT_ISSUER");
    const char *client_id = env("OPT_JWT_CLIENT");
    size_t key_len = 0;
    uint8_t *key = read_file(env("OPT_KEY_PEM"), &key_len);
    alpaca_auth_builder *b = NULL;
    alpaca_auth_client *client = NULL;
    char token[4096];
    size_t len = 0;
    if (key == NULL) {
        fprintf(stderr, "cannot read the key\n");
        return 2;
    }

    /* The setters refuse what they can at once and leave the builder as it was. */
    EXPECT(alpaca_auth_builder_new(&b), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_audience(NULL, "a"), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "builder");
    EXPECT(alpaca_auth_builder_set_assertion_audience(b, NULL), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "audience");
    EXPECT(alpaca_auth_builder_set_assertion_audience(b, ""), ALPACA_AUTH_RESULT_INVALID_ARGUMENT, "audience is empty");
    EXPECT(alpaca_auth_builder_set_assertion_typ(b, NULL), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "typ");
    EXPECT(alpaca_auth_builder_set_assertion_typ(b, ""), ALPACA_AUTH_RESULT_INVALID_ARGUMENT, "typ is empty");
    EXPECT(alpaca_auth_builder_set_assertion_lifetime_s(NULL, 60), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "builder");
    EXPECT(alpaca_auth_builder_set_assertion_lifetime_s(b, 0), ALPACA_AUTH_RESULT_CONFIG, "lifetime");
    EXPECT(alpaca_auth_builder_set_assertion_lifetime_s(b, 301), ALPACA_AUTH_RESULT_CONFIG, "lifetime");
    EXPECT(alpaca_auth_builder_set_assertion_alg(b, NULL), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "alg");
    EXPECT(alpaca_auth_builder_set_assertion_alg(b, "HS256"), ALPACA_AUTH_RESULT_CONFIG, "HS256");
    EXPECT(alpaca_auth_builder_set_scope(b, NULL), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "scope");
    EXPECT(alpaca_auth_builder_set_scope(b, "a  b"), ALPACA_AUTH_RESULT_CONFIG, "scope");
    EXPECT(alpaca_auth_builder_set_api_key_headers(b, NULL, "s"), ALPACA_AUTH_RESULT_NULL_ARGUMENT, "key_id");
    /* An assertion option without a private key is refused by _build. */
    EXPECT(alpaca_auth_builder_set_assertion_typ(b, "client-authentication+jwt"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_secret(b, client_id, "secret"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_url(b, token_url), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), ALPACA_AUTH_RESULT_CONFIG, "no private key");

    /* A key that cannot sign the algorithm asked for: refused by _build. */
    EXPECT(alpaca_auth_builder_new(&b), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_alg(b, "PS256"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_private_key(b, client_id, key, key_len), OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_url(b, token_url), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), ALPACA_AUTH_RESULT_CONFIG, "PS256");

    /* Every option, the options before the key: the RFC 7523bis mock accepts it. */
    EXPECT(alpaca_auth_builder_new(&b), OK, NULL);
    EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_audience(b, issuer), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_typ(b, "client-authentication+jwt"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_lifetime_s(b, 90), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_alg(b, "ES256"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_scope(b, "trading account:read"), OK, NULL);
    EXPECT(alpaca_auth_builder_set_client_private_key(b, client_id, key, key_len), OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_url(b, token_url), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), OK, NULL);
    EXPECT(alpaca_auth_client_access_token(client, token, sizeof token, &len), OK, NULL);
    memset(token, 0, sizeof token);
    alpaca_auth_client_free(client);

    /* A key from the environment (APCA_PRIVATE_KEY_PATH, with
     * APCA_ASSERTION_TYP) takes the options set afterwards from C. */
    EXPECT(alpaca_auth_builder_new_from_env(&b), OK, NULL);
    EXPECT(alpaca_auth_builder_set_assertion_audience(b, issuer), OK, NULL);
    EXPECT(alpaca_auth_builder_set_scope(b, "data"), OK, NULL);
    EXPECT(alpaca_auth_builder_build(b, &client), OK, NULL);
    EXPECT(alpaca_auth_client_access_token(client, token, sizeof token, &len), OK, NULL);
    memset(token, 0, sizeof token);
    alpaca_auth_client_free(client);
    memset(key, 0, key_len);
    free(key);

    printf("options: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
