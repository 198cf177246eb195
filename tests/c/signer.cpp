// signer.cpp: the C++ wrapper's alpaca_auth::signer, run. A subclass signs
// through the same loopback signing service as tests/c/signer.c (DER
// answers, converted by the library) and gets a token the mock verified;
// a subclass that throws fails the build with INVALID_KEY and the
// exception's message (the wrapper catches it: nothing crosses the C
// library); the signer object lives as long as the client and no longer.
//
// Variables: SIGNER_TOKEN_URL, SIGNER_JWT_CLIENT_ID, SIGNER_PORT,
// SIGNER_PUBLIC_KEY (hex). Prints "signer.cpp: N checks, M failed".
#include "alpaca_auth.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

static int checks = 0, failed = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failed++;                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

static std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (v == nullptr) {
        std::fprintf(stderr, "%s is not set\n", name);
        std::exit(2);
    }
    return v;
}

static bool io(int fd, std::uint8_t *data, std::size_t len, bool out) {
    while (len > 0) {
        ssize_t n = out ? write(fd, data, len) : read(fd, data, len);
        if (n <= 0) {
            return false;
        }
        data += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

class remote_signer : public alpaca_auth::signer {
  public:
    remote_signer(int *alive, std::vector<std::uint8_t> public_key)
        : alive_(alive), public_key_(std::move(public_key)) {
        ++*alive_;
    }
    ~remote_signer() override { --*alive_; }
    std::string algorithm() const override { return "ES256"; }
    alpaca_auth_signature_format format() const noexcept override {
        return ALPACA_AUTH_SIGNATURE_FORMAT_DER;
    }
    std::vector<std::uint8_t> public_key() const override { return public_key_; }
    alpaca_auth_sign_result sign(const std::uint8_t *input, std::size_t len,
                                 std::chrono::milliseconds time_left,
                                 std::vector<std::uint8_t> &signature,
                                 std::string &detail) override {
        if (time_left.count() <= 0) {
            detail = "no time left";
            return ALPACA_AUTH_SIGN_RESULT_RETRY;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(env("SIGNER_PORT").c_str())));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::uint8_t head[4] = {static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
                                static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
        std::vector<std::uint8_t> in(input, input + len);
        bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 &&
                  io(fd, head, 4, true) && io(fd, in.data(), in.size(), true) && io(fd, head, 4, false);
        if (ok) {
            std::size_t n = static_cast<std::size_t>(head[0]) << 24 | static_cast<std::size_t>(head[1]) << 16 |
                            static_cast<std::size_t>(head[2]) << 8 | head[3];
            signature.resize(n);
            ok = n > 0 && n <= ALPACA_AUTH_MAX_SIGNATURE_LEN && io(fd, signature.data(), n, false);
        }
        if (fd >= 0) {
            close(fd);
        }
        if (!ok) {
            detail = "the signing service did not answer";
            return ALPACA_AUTH_SIGN_RESULT_RETRY;
        }
        return ALPACA_AUTH_SIGN_RESULT_OK;
    }

  private:
    int *alive_;
    std::vector<std::uint8_t> public_key_;
};

class throwing_signer : public alpaca_auth::signer {
  public:
    std::string algorithm() const override { return "ES256"; }
    std::string identity() const override { return "hsm:slot-label=test;object=es256"; }
    alpaca_auth_sign_result sign(const std::uint8_t *, std::size_t, std::chrono::milliseconds,
                                 std::vector<std::uint8_t> &, std::string &) override {
        throw std::runtime_error("token removed");
    }
};

static alpaca_auth::builder builder_for() {
    alpaca_auth::builder b;
    b.environment("broker-sandbox").token_url(env("SIGNER_TOKEN_URL"));
    return b;
}

int main() {
    std::string hex = env("SIGNER_PUBLIC_KEY");
    std::vector<std::uint8_t> public_key;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        public_key.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    }
    int alive = 0;
    {
        alpaca_auth::builder b = builder_for();
        b.client_signer(env("SIGNER_JWT_CLIENT_ID"), std::make_shared<remote_signer>(&alive, public_key));
        alpaca_auth::client c = b.build();
        CHECK(c.access_token().size() > 0);
        CHECK(alive == 1);
    }
    CHECK(alive == 0);

    alpaca_auth::builder b = builder_for();
    b.client_signer(env("SIGNER_JWT_CLIENT_ID"), std::make_shared<throwing_signer>());
    alpaca_auth::client c(nullptr);
    alpaca_auth::result r = b.build(std::nothrow, c);
    CHECK(r == ALPACA_AUTH_RESULT_INVALID_KEY);
    CHECK(alpaca_auth::last_error().find("the C++ signer threw: token removed") != std::string::npos);

    std::printf("signer.cpp: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
