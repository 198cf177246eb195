//! Client assertion creation against ring's bare signature, per algorithm.
//!
//! For each of ES256, EdDSA and RS256 this times `sign_assertion` (claims,
//! JSON, base64url, `jti`, signature) and ring's `sign` alone on the same key
//! material over a message as long as the assertion's signing input. The
//! two sides run in alternating rounds so that machine noise hits both
//! alike; the median and the minimum of the rounds are reported per side.
//!
//! Run with `cargo bench --bench assertion`. Nothing is asserted: the
//! targets (creation within 1.15× ring's sign for ES256 and EdDSA, 1.05× for
//! RS256) are printed next to the measured ratios.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alpaca_auth::PrivateKey;
use alpaca_auth::{sign_assertion, AssertionOptions};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

const CLIENT_ID: &str = "CLIENTID0123456789AB";
const TOKEN_URL: &str = "https://authx.sandbox.alpaca.markets/v1/oauth2/token";

/// Alternating rounds per side.
const ROUNDS: usize = 7;
/// Time spent per side and round.
const ROUND_TIME: Duration = Duration::from_millis(200);

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("keys")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The DER body of a one-block PEM file.
fn pem_der(name: &str) -> Vec<u8> {
    let text = String::from_utf8(read(name)).expect("PEM is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

/// Runs `f` `iterations` times and returns the time per call.
fn time_per_op(iterations: u32, f: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Outcome {
    name: &'static str,
    iterations: u32,
    ours_median: Duration,
    ours_min: Duration,
    ring_median: Duration,
    ring_min: Duration,
    target: f64,
}

fn compare(
    name: &'static str,
    target: f64,
    ours: &mut dyn FnMut(),
    ring_sign: &mut dyn FnMut(),
) -> Outcome {
    // Warm up both sides and size the rounds from ring's speed.
    let estimate = time_per_op(20, ring_sign);
    time_per_op(20, ours);
    let iterations = (ROUND_TIME.as_nanos() / estimate.as_nanos().max(1)).clamp(20, 100_000) as u32;
    let mut ours_times = Vec::with_capacity(ROUNDS);
    let mut ring_times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            ours_times.push(time_per_op(iterations, ours));
            ring_times.push(time_per_op(iterations, ring_sign));
        } else {
            ring_times.push(time_per_op(iterations, ring_sign));
            ours_times.push(time_per_op(iterations, ours));
        }
    }
    Outcome {
        name,
        iterations,
        ours_min: *ours_times.iter().min().expect("rounds"),
        ring_min: *ring_times.iter().min().expect("rounds"),
        ours_median: median(ours_times),
        ring_median: median(ring_times),
        target,
    }
}

/// The length of the signing input (`header.claims`) of `key`'s assertions.
fn signing_input_len(key: &PrivateKey, options: &AssertionOptions) -> usize {
    let assertion = sign_assertion(key, CLIENT_ID, TOKEN_URL, options).expect("assertion");
    let (input, _signature) = assertion
        .expose_secret()
        .rsplit_once('.')
        .expect("three parts");
    input.len()
}

fn main() {
    let options = AssertionOptions::new();
    let rng = SystemRandom::new();
    let mut outcomes = Vec::new();

    // ES256
    {
        let ours = PrivateKey::from_file(keys_dir().join("p256-pkcs8.pem")).expect("P-256 key");
        let bare = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &read("p256-pkcs8.der"),
            &rng,
        )
        .expect("ring P-256 key");
        let message = vec![b'e'; signing_input_len(&ours, &options)];
        outcomes.push(compare(
            "ES256",
            1.15,
            &mut || {
                black_box(sign_assertion(&ours, CLIENT_ID, TOKEN_URL, &options).expect("sign"));
            },
            &mut || {
                black_box(bare.sign(&rng, black_box(&message)).expect("sign"));
            },
        ));
    }

    // EdDSA
    {
        let ours =
            PrivateKey::from_file(keys_dir().join("ed25519-pkcs8.pem")).expect("Ed25519 key");
        let bare = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der("ed25519-pkcs8.pem"))
            .expect("ring Ed25519 key");
        let message = vec![b'e'; signing_input_len(&ours, &options)];
        outcomes.push(compare(
            "EdDSA",
            1.15,
            &mut || {
                black_box(sign_assertion(&ours, CLIENT_ID, TOKEN_URL, &options).expect("sign"));
            },
            &mut || {
                black_box(bare.sign(black_box(&message)));
            },
        ));
    }

    // RS256
    {
        let ours = PrivateKey::from_file(keys_dir().join("rsa2048-pkcs1.der")).expect("RSA key");
        let bare = RsaKeyPair::from_der(&read("rsa2048-pkcs1.der")).expect("ring RSA key");
        let message = vec![b'e'; signing_input_len(&ours, &options)];
        let mut out = vec![0u8; bare.public().modulus_len()];
        outcomes.push(compare(
            "RS256",
            1.05,
            &mut || {
                black_box(sign_assertion(&ours, CLIENT_ID, TOKEN_URL, &options).expect("sign"));
            },
            &mut || {
                bare.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    black_box(&message),
                    &mut out,
                )
                .expect("sign");
                black_box(&out);
            },
        ));
    }

    println!(
        "client assertion creation (sign_assertion) vs ring's bare sign, {ROUNDS} alternating rounds"
    );
    println!(
        "{:<6} {:>7} {:>12} {:>12} {:>8} {:>12} {:>12} {:>8} {:>8}",
        "alg",
        "iters",
        "ours µs/op",
        "ring µs/op",
        "ratio",
        "ours min",
        "ring min",
        "min ratio",
        "target"
    );
    for o in &outcomes {
        let ratio = o.ours_median.as_secs_f64() / o.ring_median.as_secs_f64();
        let min_ratio = o.ours_min.as_secs_f64() / o.ring_min.as_secs_f64();
        println!(
            "{:<6} {:>7} {:>12.2} {:>12.2} {:>8.3} {:>12.2} {:>12.2} {:>8.3} {:>8}",
            o.name,
            o.iterations,
            micros(o.ours_median),
            micros(o.ring_median),
            ratio,
            micros(o.ours_min),
            micros(o.ring_min),
            min_ratio,
            format!("≤ {:.2}", o.target),
        );
    }
    println!("(µs/op and ratio: medians of the rounds; min: fastest round of each side)");
}
