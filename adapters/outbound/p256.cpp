#include "adapters/outbound/p256.h"

#include <cstring>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

namespace treve::adapters {
namespace {

constexpr char kGroupName[] = "prime256v1";

ossl::EcGroup p256_group() {
  return ossl::EcGroup(EC_GROUP_new_by_curve_name_ex(nullptr, nullptr, NID_X9_62_prime256v1));
}

// One group for the process: read-only once made, so threads may share it.
const EC_GROUP* shared_group() {
  static const ossl::EcGroup group = p256_group();
  return group.get();
}

std::string point_length_error(std::size_t size) {
  return std::to_string(size) +
         " bytes; a P-256 public key is an uncompressed point: 65 bytes, the first 0x04";
}

// `scalar` as a secret BIGNUM, if it lies in [1, n-1].
std::expected<ossl::Bignum, std::string> checked_scalar(std::span<const unsigned char> scalar,
                                                        const EC_GROUP* group) {
  if (scalar.size() != 32)
    return std::unexpected(std::to_string(scalar.size()) + " bytes; a P-256 private key has 32");
  ossl::Bignum d(BN_secure_new());
  if (!group || !d || !BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), d.get()))
    return std::unexpected(std::string("P-256: out of memory"));
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group)) >= 0)
    return std::unexpected(std::string("a P-256 private key lies in [1, n-1]"));
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);
  return d;
}

// An EVP_PKEY from its parameters: the group, the public point and, for a pair, the scalar.
std::expected<ossl::Pkey, std::string> key_from_data(std::span<const unsigned char> point,
                                                     const BIGNUM* scalar) {
  ossl::ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kGroupName, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1 ||
      (scalar && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar) != 1)) {
    return std::unexpected(std::string("P-256: out of memory"));
  }
  ossl::Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1)
    return std::unexpected(std::string("P-256: EC keys are not available"));
  EVP_PKEY* raw = nullptr;
  // Decoding the point checks that it lies on the curve.
  if (EVP_PKEY_fromdata(ctx.get(), &raw, scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1) {
    ERR_clear_error();  // a bad point from outside is no error of ours: leave the queue clean
    return std::unexpected(std::string("not a point on P-256"));
  }
  ossl::Pkey key(raw);
  // And once more through the key's own check (not infinity, on the curve), so that no point
  // an attacker chose reaches ECDH. P-256's cofactor is 1: every point on the curve is in the
  // prime-order group, so the full check's multiplication by the order (a third of the cost
  // of a message) would find nothing more.
  ossl::PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    ERR_clear_error();
    return std::unexpected(std::string("not a point on P-256"));
  }
  return key;
}

}  // namespace

std::expected<ossl::Pkey, std::string> p256_public_key(std::span<const unsigned char> point) {
  if (point.size() != 65 || point[0] != 0x04)
    return std::unexpected(point_length_error(point.size()));
  return key_from_data(point, nullptr);
}

std::expected<P256KeyPair, std::string> p256_key_pair(std::span<const unsigned char> scalar) {
  const EC_GROUP* group = shared_group();
  auto d = checked_scalar(scalar, group);
  if (!d)
    return std::unexpected(d.error());
  ossl::EcPoint q(EC_POINT_new(group));
  P256KeyPair pair;
  if (!q || EC_POINT_mul(group, q.get(), d->get(), nullptr, nullptr, nullptr) != 1 ||
      EC_POINT_point2oct(group, q.get(), POINT_CONVERSION_UNCOMPRESSED, pair.public_point.data(),
                         pair.public_point.size(), nullptr) != pair.public_point.size()) {
    return std::unexpected(std::string("P-256: cannot compute the public key"));
  }
  auto key = key_from_data(pair.public_point, d->get());
  if (!key)
    return std::unexpected(key.error());
  pair.key = std::move(*key);
  return pair;
}

std::expected<P256Scalar, std::string> p256_random_private_key() {
  const EC_GROUP* group = shared_group();
  ossl::Bignum d(BN_secure_new());
  if (!group || !d)
    return std::unexpected(std::string("P-256: out of memory"));
  P256Scalar scalar;
  // The order is just below 2^256: a candidate is out of range about once in 2^32 draws.
  for (int attempt = 0; attempt < 64; ++attempt) {
    if (RAND_priv_bytes(scalar.data(), static_cast<int>(scalar.size())) != 1)
      return std::unexpected(std::string("the random generator failed"));
    if (!BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), d.get()))
      return std::unexpected(std::string("P-256: out of memory"));
    if (!BN_is_zero(d.get()) && BN_cmp(d.get(), EC_GROUP_get0_order(group)) < 0)
      return scalar;
  }
  return std::unexpected(std::string("the random generator failed"));
}

bool is_p256(const EVP_PKEY* key) {
  char name[64] = {};
  std::size_t len = 0;
  return key && EVP_PKEY_is_a(key, "EC") &&
         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) ==
             1 &&
         (std::strcmp(name, "prime256v1") == 0 || std::strcmp(name, "P-256") == 0);
}

std::expected<P256Point, std::string> p256_public_point(const EVP_PKEY* key) {
  if (!is_p256(key))
    return std::unexpected(std::string("not a P-256 key"));
  P256Point point;
  std::size_t len = 0;
  // The encoded form is always the uncompressed point, whatever the file said.
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(),
                                      point.size(), &len) != 1 ||
      len != point.size() || point[0] != 0x04) {
    return std::unexpected(std::string("the P-256 key has no uncompressed public point"));
  }
  return point;
}

std::expected<std::array<unsigned char, 32>, std::string> p256_ecdh(EVP_PKEY* mine,
                                                                    EVP_PKEY* peer) {
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, mine, nullptr));
  std::array<unsigned char, 32> secret;
  std::size_t len = secret.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      // 0: the peer was checked when it was made (p256_public_key, p256_key_pair); checking
      // again here would multiply by the order once more, half the cost of the derivation.
      EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, 0) != 1 ||
      EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1 || len != secret.size()) {
    return std::unexpected(std::string("ECDH on P-256 failed"));
  }
  return secret;
}

std::expected<ossl::EcPoint, std::string> p256_point(std::span<const unsigned char> point) {
  if (point.size() != 65 || point[0] != 0x04)
    return std::unexpected(point_length_error(point.size()));
  const EC_GROUP* group = shared_group();
  ossl::EcPoint p(group ? EC_POINT_new(group) : nullptr);
  if (!p)
    return std::unexpected(std::string("P-256: out of memory"));
  // Decoding checks that the point lies on the curve; P-256's cofactor is 1, so every point on
  // it is in the prime-order group (see key_from_data), and 0x04 cannot encode infinity.
  if (EC_POINT_oct2point(group, p.get(), point.data(), point.size(), nullptr) != 1 ||
      EC_POINT_is_on_curve(group, p.get(), nullptr) != 1) {
    ERR_clear_error();
    return std::unexpected(std::string("not a point on P-256"));
  }
  return p;
}

std::expected<P256Agreement, std::string> p256_agree(std::span<const unsigned char> scalar,
                                                     const EC_POINT& peer) {
  const EC_GROUP* group = shared_group();
  auto d = checked_scalar(scalar, group);
  if (!d)
    return std::unexpected(d.error());
  std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>> ctx(BN_CTX_secure_new());
  ossl::EcPoint mine(EC_POINT_new(group)), shared(EC_POINT_new(group));
  ossl::Bignum x(BN_secure_new());
  P256Agreement out;
  // What OpenSSL's own ECDH does (ecdh_simple_compute_key): the X of d * peer, padded to 32.
  if (!ctx || !mine || !shared || !x ||
      EC_POINT_mul(group, mine.get(), d->get(), nullptr, nullptr, ctx.get()) != 1 ||
      EC_POINT_point2oct(group, mine.get(), POINT_CONVERSION_UNCOMPRESSED, out.public_point.data(),
                         out.public_point.size(), ctx.get()) != out.public_point.size() ||
      EC_POINT_mul(group, shared.get(), nullptr, &peer, d->get(), ctx.get()) != 1 ||
      EC_POINT_get_affine_coordinates(group, shared.get(), x.get(), nullptr, ctx.get()) != 1 ||
      BN_bn2binpad(x.get(), out.secret.data(), static_cast<int>(out.secret.size())) !=
          static_cast<int>(out.secret.size())) {
    ERR_clear_error();
    return std::unexpected(std::string("ECDH on P-256 failed"));
  }
  return out;
}

}  // namespace treve::adapters
