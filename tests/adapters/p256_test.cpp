// P-256 as Web Push uses it: the agreement on raw scalars and points (the hot path of every
// message) checked against OpenSSL's own ECDH on EVP_PKEY keys.
#include "adapters/outbound/p256.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace treve::adapters {
namespace {

TEST(P256, TheAgreementOnRawKeysIsOpenSslsEcdhOnTheSameKeys) {
  for (int i = 0; i < 20; ++i) {
    auto a = p256_random_private_key();
    auto b = p256_random_private_key();
    ASSERT_TRUE(a && b);
    auto mine = p256_key_pair(*a);
    auto theirs = p256_key_pair(*b);
    ASSERT_TRUE(mine && theirs);
    auto peer = p256_point(theirs->public_point);
    ASSERT_TRUE(peer) << peer.error();
    auto agreed = p256_agree(*a, **peer);
    ASSERT_TRUE(agreed) << agreed.error();
    EXPECT_EQ(agreed->public_point, mine->public_point);
    auto expected = p256_ecdh(mine->key.get(), theirs->key.get());
    ASSERT_TRUE(expected) << expected.error();
    EXPECT_EQ(agreed->secret, *expected);
    // And from the other side.
    auto back = p256_agree(*b, **p256_point(mine->public_point));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->secret, agreed->secret);
  }
}

TEST(P256, ARawPointIsRefusedAsAPublicKeyIs) {
  std::vector<std::vector<unsigned char>> bad = {
      std::vector<unsigned char>(65, 0),  // not 0x04
      [] {
        std::vector<unsigned char> p(65, 0);
        p[0] = 0x04;  // (0, 0): not on the curve
        return p;
      }(),
      std::vector<unsigned char>(33, 0x02),  // compressed
      {},
  };
  for (const auto& point : bad) {
    auto raw = p256_point(point);
    auto key = p256_public_key(point);
    ASSERT_FALSE(raw);
    ASSERT_FALSE(key);
    EXPECT_EQ(raw.error(), key.error());
  }
}

TEST(P256, AScalarOutsideOneToTheOrderIsRefused) {
  auto b = p256_key_pair(*p256_random_private_key());
  ASSERT_TRUE(b);
  auto peer = p256_point(b->public_point);
  ASSERT_TRUE(peer);
  const std::array<unsigned char, 32> zero{};
  std::array<unsigned char, 32> all_ones;
  all_ones.fill(0xFF);  // above the order
  for (const auto& scalar : {zero, all_ones}) {
    auto agreed = p256_agree(scalar, **peer);
    ASSERT_FALSE(agreed);
    EXPECT_EQ(agreed.error(), "a P-256 private key lies in [1, n-1]");
  }
  EXPECT_FALSE(p256_agree(std::vector<unsigned char>(31, 1), **peer));
}

}  // namespace
}  // namespace treve::adapters
