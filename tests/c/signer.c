/*
 * signer.c: private_key_jwt with an external signer written in C
 * (alpaca_auth_signer). The key is not in this process: the sign callback
 * is the client of a remote signing service, as a cloud KMS client is. The
 * service (started by tests/c_abi.rs on loopback) holds the test P-256 key
 * and answers with DER ECDSA signatures, as KMS services do, so the
 * library's DER conversion is on the path; the mock server verifies the
 * resulting assertions with the registered public key.
 *
 * Protocol of the service: the request is a 4-byte big-endian length and
 * the signing input; the answer a 4-byte big-endian length and the DER
 * signature.
 *
 * Checks: a token through the remote signer (the time left passed to the
 * callback is within the budget; user_data is freed exactly once, when the
 * client is freed); a callback failure is INVALID_KEY with its detail; an
 * unknown result code and a signature longer than the buffer are
 * INVALID_KEY; garbage signatures are caught by the public key before any
 * request; a RETRY result is retried within the budget; each malformed
 * signer struct is refused with nothing kept (free_user_data not called).
 *
 * Variables: SIGNER_TOKEN_URL, SIGNER_JWT_CLIENT_ID, SIGNER_PORT (the
 * service), SIGNER_PUBLIC_KEY (hex of the 65-byte point). Prints "signer:
 * N checks, M failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "alpaca_auth.h"

#include "check.h"

#define BUDGET_MS 20000

enum mode { REMOTE, FAIL, GARBAGE, UNKNOWN_CODE, TOO_LONG, RETRY_TWICE };

struct signer_ctx {
    enum mode mode;
    int calls;
    int frees;
    uint64_t min_left_ms, max_left_ms;
};

static uint16_t service_port;

static int write_all(int fd, const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, data, len);
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Asks the service for a DER signature of `input`, within `left_ms`. */
static uint32_t remote_sign(const uint8_t *input, size_t input_len, uint64_t left_ms,
                            uint8_t *sig, size_t sig_cap, size_t *sig_len, char *detail,
                            size_t detail_len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(detail, detail_len, "socket failed");
        return ALPACA_AUTH_SIGN_RESULT_RETRY;
    }
    struct timeval tv = {.tv_sec = (time_t)(left_ms / 1000),
                         .tv_usec = (suseconds_t)(left_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(service_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t head[4] = {(uint8_t)(input_len >> 24), (uint8_t)(input_len >> 16),
                       (uint8_t)(input_len >> 8), (uint8_t)input_len};
    uint32_t result = ALPACA_AUTH_SIGN_RESULT_RETRY;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        write_all(fd, head, 4) != 0 || write_all(fd, input, input_len) != 0 ||
        read_all(fd, head, 4) != 0) {
        snprintf(detail, detail_len, "the signing service did not answer");
    } else {
        size_t len = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
        if (len == 0 || len > sig_cap || read_all(fd, sig, len) != 0) {
            snprintf(detail, detail_len, "bad answer from the signing service");
            result = ALPACA_AUTH_SIGN_RESULT_FAILED;
        } else {
            *sig_len = len;
            result = ALPACA_AUTH_SIGN_RESULT_OK;
        }
    }
    close(fd);
    return result;
}

static uint32_t sign_cb(void *user_data, const uint8_t *input, size_t input_len,
                        uint64_t time_left_ms, uint8_t *sig, size_t sig_cap, size_t *sig_len,
                        char *detail, size_t detail_len) {
    struct signer_ctx *ctx = user_data;
    ctx->calls++;
    if (time_left_ms < ctx->min_left_ms) {
        ctx->min_left_ms = time_left_ms;
    }
    if (time_left_ms > ctx->max_left_ms) {
        ctx->max_left_ms = time_left_ms;
    }
    if (sig_cap != ALPACA_AUTH_MAX_SIGNATURE_LEN || detail_len != ALPACA_AUTH_MAX_SIGNER_DETAIL_LEN) {
        return ALPACA_AUTH_SIGN_RESULT_FAILED;
    }
    switch (ctx->mode) {
    case FAIL:
        snprintf(detail, detail_len, "HSM says no: CKR_PIN_EXPIRED");
        return ALPACA_AUTH_SIGN_RESULT_FAILED;
    case GARBAGE:
        memset(sig, 0x30, 64);
        *sig_len = 64;
        return ALPACA_AUTH_SIGN_RESULT_OK;
    case UNKNOWN_CODE:
        return 77;
    case TOO_LONG:
        *sig_len = sig_cap + 1;
        return ALPACA_AUTH_SIGN_RESULT_OK;
    case RETRY_TWICE:
        if (ctx->calls <= 2) {
            snprintf(detail, detail_len, "service busy");
            return ALPACA_AUTH_SIGN_RESULT_RETRY;
        }
        /* fall through */
    case REMOTE:
        break;
    }
    return remote_sign(input, input_len, time_left_ms, sig, sig_cap, sig_len, detail, detail_len);
}

static void free_cb(void *user_data) {
    struct signer_ctx *ctx = user_data;
    ctx->frees++;
}

static uint8_t public_key[65];

static void parse_public_key(const char *hex) {
    if (strlen(hex) != 130) {
        fprintf(stderr, "SIGNER_PUBLIC_KEY is not 130 hex digits\n");
        exit(2);
    }
    for (size_t i = 0; i < 65; i++) {
        unsigned byte = 0;
        sscanf(hex + 2 * i, "%2x", &byte);
        public_key[i] = (uint8_t)byte;
    }
}

static alpaca_auth_signer signer_for(struct signer_ctx *ctx, uint32_t format) {
    alpaca_auth_signer s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.user_data = ctx;
    s.algorithm = "ES256";
    s.signature_format = format;
    s.public_key = public_key;
    s.public_key_len = sizeof public_key;
    s.sign = sign_cb;
    s.free_user_data = free_cb;
    return s;
}

/* A builder with the signer of `ctx` set (DER answers for the remote
 * mode); NULL if the setter failed. */
static alpaca_auth_builder *builder_with(struct signer_ctx *ctx, uint32_t format) {
    alpaca_auth_builder *b = NULL;
    EXPECT(alpaca_auth_builder_new(&b), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(alpaca_auth_builder_set_environment(b, "broker-sandbox"), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(alpaca_auth_builder_set_token_url(b, env("SIGNER_TOKEN_URL")), ALPACA_AUTH_RESULT_OK,
           NULL);
    EXPECT(alpaca_auth_builder_set_token_budget_ms(b, BUDGET_MS), ALPACA_AUTH_RESULT_OK, NULL);
    EXPECT(alpaca_auth_builder_set_retry_initial_backoff_ms(b, 10), ALPACA_AUTH_RESULT_OK, NULL);
    alpaca_auth_signer s = signer_for(ctx, format);
    EXPECT(alpaca_auth_builder_set_client_signer(b, env("SIGNER_JWT_CLIENT_ID"), &s),
           ALPACA_AUTH_RESULT_OK, NULL);
    return b;
}

static int has_token(alpaca_auth_client *client) {
    char line[ALPACA_AUTH_MAX_HEADER_LINE];
    size_t len = 0;
    alpaca_auth_result r = alpaca_auth_client_header_line(client, 0, line, sizeof line, &len);
    return r == ALPACA_AUTH_RESULT_OK && strncmp(line, "Authorization: Bearer ", 22) == 0;
}

/* A signer whose build must fail with `want` and `needle`; its user_data
 * is freed once (the builder took it). */
static void build_fails(enum mode mode, alpaca_auth_result want, const char *needle) {
    struct signer_ctx ctx = {.mode = mode, .min_left_ms = UINT64_MAX};
    alpaca_auth_builder *b = builder_with(&ctx, ALPACA_AUTH_SIGNATURE_FORMAT_JWS);
    alpaca_auth_client *client = NULL;
    EXPECT(alpaca_auth_builder_build(b, &client), want, needle);
    CHECK(client == NULL);
    CHECK(ctx.calls == 1);
    CHECK(ctx.frees == 1);
}

/* Each malformed struct is refused with `want`; nothing is kept. */
static void refused(void) {
    struct signer_ctx ctx = {.mode = REMOTE, .min_left_ms = UINT64_MAX};
    alpaca_auth_builder *b = NULL;
    EXPECT(alpaca_auth_builder_new(&b), ALPACA_AUTH_RESULT_OK, NULL);
    const char *id = env("SIGNER_JWT_CLIENT_ID");
    alpaca_auth_signer s = signer_for(&ctx, ALPACA_AUTH_SIGNATURE_FORMAT_JWS);
    s.sign = NULL;
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_INVALID_ARGUMENT,
           "sign is NULL");
    s = signer_for(&ctx, ALPACA_AUTH_SIGNATURE_FORMAT_JWS);
    s.algorithm = "ES512";
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_CONFIG, "ES512");
    s = signer_for(&ctx, ALPACA_AUTH_SIGNATURE_FORMAT_DER);
    s.algorithm = "RS256";
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_INVALID_ARGUMENT,
           "only an ES256");
    s = signer_for(&ctx, 7);
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_INVALID_ARGUMENT,
           "signature_format is 7");
    s = signer_for(&ctx, ALPACA_AUTH_SIGNATURE_FORMAT_JWS);
    s.public_key = NULL;
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_INVALID_KEY,
           "neither a public key nor an identity");
    s.public_key = public_key;
    s.public_key_len = 64;
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_INVALID_KEY,
           "not in the form");
    s = signer_for(&ctx, ALPACA_AUTH_SIGNATURE_FORMAT_JWS);
    s.struct_size = 8;
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, &s), ALPACA_AUTH_RESULT_INVALID_ARGUMENT,
           NULL);
    EXPECT(alpaca_auth_builder_set_client_signer(b, id, NULL), ALPACA_AUTH_RESULT_NULL_ARGUMENT,
           NULL);
    alpaca_auth_builder_free(b);
    CHECK(ctx.calls == 0);
    CHECK(ctx.frees == 0);
}

int main(void) {
    service_port = (uint16_t)atoi(env("SIGNER_PORT"));
    parse_public_key(env("SIGNER_PUBLIC_KEY"));

    /* A token through the remote signer (DER answers). */
    struct signer_ctx remote = {.mode = REMOTE, .min_left_ms = UINT64_MAX};
    alpaca_auth_builder *b = builder_with(&remote, ALPACA_AUTH_SIGNATURE_FORMAT_DER);
    alpaca_auth_client *client = NULL;
    EXPECT(alpaca_auth_builder_build(b, &client), ALPACA_AUTH_RESULT_OK, NULL);
    CHECK(client != NULL && has_token(client));
    CHECK(remote.calls == 2); /* the trial at build, the token request */
    CHECK(remote.min_left_ms > 0 && remote.max_left_ms <= BUDGET_MS);
    CHECK(remote.frees == 0);
    alpaca_auth_client_free(client);
    CHECK(remote.frees == 1);

    /* RETRY twice (the trial at build, then the first attempt), then a
     * signature: one token request. */
    struct signer_ctx retry = {.mode = RETRY_TWICE, .min_left_ms = UINT64_MAX};
    b = builder_with(&retry, ALPACA_AUTH_SIGNATURE_FORMAT_DER);
    client = NULL;
    EXPECT(alpaca_auth_builder_build(b, &client), ALPACA_AUTH_RESULT_OK, NULL);
    CHECK(client != NULL && has_token(client));
    CHECK(retry.calls == 3);
    alpaca_auth_client_free(client);
    CHECK(retry.frees == 1);

    build_fails(FAIL, ALPACA_AUTH_RESULT_INVALID_KEY, "HSM says no: CKR_PIN_EXPIRED");
    build_fails(GARBAGE, ALPACA_AUTH_RESULT_INVALID_KEY, "does not verify with the public key");
    build_fails(UNKNOWN_CODE, ALPACA_AUTH_RESULT_INVALID_KEY, "returned 77");
    build_fails(TOO_LONG, ALPACA_AUTH_RESULT_INVALID_KEY, "513 bytes");
    refused();

    printf("signer: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
