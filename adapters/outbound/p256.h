// P-256 (secp256r1, "prime256v1") keys as Web Push and VAPID exchange them: a public key is
// the 65-byte uncompressed point (0x04 || X || Y, SEC 1 §2.3.3), a private key the 32-byte
// big-endian scalar. Built on OpenSSL 3's EVP_PKEY; internal to adapters/outbound and its
// tests. Pure functions apart from `p256_random_private_key`, which draws from OpenSSL's
// random generator.
#pragma once

#include <array>
#include <expected>
#include <span>
#include <string>

#include "adapters/outbound/openssl_handles.h"

namespace treve::adapters {

using P256Point = std::array<unsigned char, 65>;
using P256Scalar = std::array<unsigned char, 32>;

// The public key of an uncompressed point; refuses another length, a compressed or infinity
// encoding, and a point that is not on the curve (the error says which).
std::expected<ossl::Pkey, std::string> p256_public_key(std::span<const unsigned char> point);

// The key pair of a scalar in [1, n-1], with its public point.
struct P256KeyPair {
  ossl::Pkey key;
  P256Point public_point;
};
std::expected<P256KeyPair, std::string> p256_key_pair(std::span<const unsigned char> scalar);

// A fresh scalar, uniform in [1, n-1] (candidates out of range are drawn again).
std::expected<P256Scalar, std::string> p256_random_private_key();

// The uncompressed point of `key`, which must be a P-256 key (public or pair).
std::expected<P256Point, std::string> p256_public_point(const EVP_PKEY* key);

// True when `key` is an EC key on P-256.
bool is_p256(const EVP_PKEY* key);

// ECDH (SP 800-56A): the X coordinate of private(mine) * public(peer), 32 bytes. `peer` must
// come from p256_public_key or p256_key_pair, which checked its point.
std::expected<std::array<unsigned char, 32>, std::string> p256_ecdh(EVP_PKEY* mine, EVP_PKEY* peer);

// The same agreement without EVP_PKEY objects, for the hot path of Web Push (one per message):
// building keys through EVP_PKEY_fromdata makes a new curve group each time, which cost more
// than the two multiplications themselves. These work on one P-256 group made once per
// process, shared read-only by every thread.
//
// A point from its uncompressed encoding, checked as p256_public_key checks it (length,
// encoding, on the curve), with the same errors.
std::expected<ossl::EcPoint, std::string> p256_point(std::span<const unsigned char> point);
// For a scalar in [1, n-1] and a point from p256_point: the scalar's public point and the X
// coordinate of scalar * peer (ECDH, SP 800-56A), 32 bytes.
struct P256Agreement {
  P256Point public_point{};
  std::array<unsigned char, 32> secret{};
};
std::expected<P256Agreement, std::string> p256_agree(std::span<const unsigned char> scalar,
                                                     const EC_POINT& peer);

}  // namespace treve::adapters
