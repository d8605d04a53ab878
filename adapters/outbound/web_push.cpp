#include "adapters/outbound/web_push.h"

#include <cstdint>
#include <span>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/openssl_handles.h"
#include "adapters/outbound/p256.h"

namespace treve::adapters {
namespace {

using Bytes = std::vector<unsigned char>;
constexpr std::size_t kTagSize = 16;

std::span<const unsigned char> bytes_of(std::string_view s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

std::expected<Bytes, std::string> hkdf_sha256(std::span<const unsigned char> salt,
                                              std::span<const unsigned char> ikm,
                                              std::span<const unsigned char> info,
                                              std::size_t length) {
  // Fetched once: a fetch looks the algorithm up in the provider's tables, under a lock.
  static const ossl::Kdf kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  ossl::KdfCtx ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx)
    return std::unexpected(std::string("HKDF is not available"));
  char digest[] = "SHA256";
  // OSSL_PARAM takes non-const pointers; HKDF only reads them.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<unsigned char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                        const_cast<unsigned char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  Bytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
    return std::unexpected(std::string("HKDF-SHA256 failed"));
  return out;
}

struct ContentKeys {
  Bytes cek;    // 16 bytes
  Bytes nonce;  // 12 bytes
};

// RFC 8291 §3.3-3.4 and RFC 8188 §2.2-2.3, from the ECDH secret and both public keys.
std::expected<ContentKeys, std::string> content_keys(std::span<const unsigned char> ecdh,
                                                     std::span<const unsigned char> auth,
                                                     std::span<const unsigned char> ua_public,
                                                     std::span<const unsigned char> as_public,
                                                     std::span<const unsigned char> salt) {
  constexpr std::string_view kKeyInfo("WebPush: info\0", 14);
  Bytes key_info(kKeyInfo.begin(), kKeyInfo.end());
  key_info.insert(key_info.end(), ua_public.begin(), ua_public.end());
  key_info.insert(key_info.end(), as_public.begin(), as_public.end());
  auto ikm = hkdf_sha256(auth, ecdh, key_info, 32);
  if (!ikm)
    return std::unexpected(ikm.error());
  auto cek = hkdf_sha256(salt, *ikm, bytes_of({"Content-Encoding: aes128gcm\0", 28}), 16);
  auto nonce = hkdf_sha256(salt, *ikm, bytes_of({"Content-Encoding: nonce\0", 24}), 12);
  OPENSSL_cleanse(ikm->data(), ikm->size());
  if (!cek)
    return std::unexpected(cek.error());
  if (!nonce)
    return std::unexpected(nonce.error());
  return ContentKeys{std::move(*cek), std::move(*nonce)};
}

// AES-128-GCM of `in` into `out` (same length), sealing (`tag` written) or opening (`tag`
// checked). No associated data.
bool aes128gcm(bool seal, const ContentKeys& keys, std::span<const unsigned char> in,
               unsigned char* out, unsigned char* tag) {
  static const ossl::Cipher cipher(EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr));
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!cipher || !ctx ||
      EVP_CipherInit_ex2(ctx.get(), cipher.get(), keys.cek.data(), keys.nonce.data(), seal ? 1 : 0,
                         nullptr) != 1) {
    return false;
  }
  int len = 0;
  if (!in.empty() &&
      EVP_CipherUpdate(ctx.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1) {
    return false;
  }
  if (!seal && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1)
    return false;
  int final_len = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out + len, &final_len) != 1)
    return false;  // opening: the tag does not match
  return !seal || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) == 1;
}

std::expected<Bytes, std::string> decode_key(std::string_view name, std::string_view text) {
  auto bytes = base64url_decode(text);
  if (!bytes)
    return std::unexpected(std::string(name) + ": " + bytes.error());
  return bytes;
}

std::expected<Bytes, std::string> decode_auth(std::string_view auth) {
  auto bytes = decode_key("auth", auth);
  if (bytes && bytes->size() != 16) {
    return std::unexpected("auth: " + std::to_string(bytes->size()) +
                           " bytes; a subscription's auth secret has 16");
  }
  return bytes;
}

}  // namespace

std::expected<std::string, std::string> web_push_encrypt(std::string_view plaintext,
                                                         std::string_view p256dh,
                                                         std::string_view auth) {
  WebPushSenderSecrets secrets;
  auto scalar = p256_random_private_key();
  if (!scalar)
    return std::unexpected(scalar.error());
  secrets.private_key = *scalar;
  OPENSSL_cleanse(scalar->data(), scalar->size());
  if (RAND_bytes(secrets.salt.data(), static_cast<int>(secrets.salt.size())) != 1)
    return std::unexpected(std::string("the random generator failed"));
  auto body = web_push_encrypt(plaintext, p256dh, auth, secrets);
  OPENSSL_cleanse(secrets.private_key.data(), secrets.private_key.size());
  return body;
}

std::expected<std::string, std::string> web_push_encrypt(std::string_view plaintext,
                                                         std::string_view p256dh,
                                                         std::string_view auth,
                                                         const WebPushSenderSecrets& secrets) {
  if (plaintext.size() > kWebPushMaxPlaintext) {
    return std::unexpected("the message is " + std::to_string(plaintext.size()) +
                           " bytes; Web Push carries at most " +
                           std::to_string(kWebPushMaxPlaintext) + " (a 4096-byte body)");
  }
  auto ua_point = decode_key("p256dh", p256dh);
  if (!ua_point)
    return std::unexpected(ua_point.error());
  auto ua_public = p256_point(*ua_point);
  if (!ua_public)
    return std::unexpected("p256dh: " + ua_public.error());
  auto auth_secret = decode_auth(auth);
  if (!auth_secret)
    return std::unexpected(auth_secret.error());
  auto sender = p256_agree(secrets.private_key, **ua_public);
  if (!sender)
    return std::unexpected("sender key: " + sender.error());
  auto keys =
      content_keys(sender->secret, *auth_secret, *ua_point, sender->public_point, secrets.salt);
  OPENSSL_cleanse(sender->secret.data(), sender->secret.size());
  if (!keys)
    return std::unexpected(keys.error());

  std::string body;
  body.reserve(kWebPushHeaderSize + plaintext.size() + 1 + kTagSize);
  body.append(reinterpret_cast<const char*>(secrets.salt.data()), secrets.salt.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    body += static_cast<char>((kWebPushRecordSize >> shift) & 0xFF);
  body += static_cast<char>(sender->public_point.size());
  body.append(reinterpret_cast<const char*>(sender->public_point.data()),
              sender->public_point.size());

  Bytes record(plaintext.begin(), plaintext.end());
  record.push_back(0x02);  // the last (and only) record, no padding
  const std::size_t at = body.size();
  body.resize(at + record.size() + kTagSize);
  auto* out = reinterpret_cast<unsigned char*>(body.data()) + at;
  const bool ok = aes128gcm(true, *keys, record, out, out + record.size());
  OPENSSL_cleanse(record.data(), record.size());
  OPENSSL_cleanse(keys->cek.data(), keys->cek.size());
  if (!ok)
    return std::unexpected(std::string("AES-128-GCM failed"));
  return body;
}

std::expected<std::string, std::string> web_push_decrypt(std::string_view body,
                                                         std::string_view ua_private,
                                                         std::string_view auth) {
  const auto bytes = bytes_of(body);
  if (bytes.size() < 21)
    return std::unexpected(std::string("not aes128gcm: shorter than its header"));
  const auto salt = bytes.subspan(0, 16);
  const std::uint32_t rs = (std::uint32_t{bytes[16]} << 24) | (std::uint32_t{bytes[17]} << 16) |
                           (std::uint32_t{bytes[18]} << 8) | std::uint32_t{bytes[19]};
  const std::size_t idlen = bytes[20];
  if (idlen != 65 || bytes.size() < 21 + idlen)
    return std::unexpected(std::string("not Web Push: the key id is not a 65-byte P-256 point"));
  const auto as_point = bytes.subspan(21, idlen);
  const auto ciphertext = bytes.subspan(21 + idlen);
  if (rs < 18)
    return std::unexpected(std::string("not aes128gcm: record size under 18"));
  if (ciphertext.size() <= kTagSize || ciphertext.size() > rs)
    return std::unexpected(std::string("not one aes128gcm record"));

  auto scalar = decode_key("ua_private", ua_private);
  if (!scalar)
    return std::unexpected(scalar.error());
  auto receiver = p256_key_pair(*scalar);
  OPENSSL_cleanse(scalar->data(), scalar->size());
  if (!receiver)
    return std::unexpected("ua_private: " + receiver.error());
  auto auth_secret = decode_auth(auth);
  if (!auth_secret)
    return std::unexpected(auth_secret.error());
  auto as_public = p256_public_key(as_point);
  if (!as_public)
    return std::unexpected("key id: " + as_public.error());
  auto ecdh = p256_ecdh(receiver->key.get(), as_public->get());
  if (!ecdh)
    return std::unexpected(ecdh.error());
  auto keys = content_keys(*ecdh, *auth_secret, receiver->public_point, as_point, salt);
  if (!keys)
    return std::unexpected(keys.error());

  const std::size_t record_size = ciphertext.size() - kTagSize;
  Bytes tag(ciphertext.end() - kTagSize, ciphertext.end());
  std::string record(record_size, '\0');
  if (!aes128gcm(false, *keys, ciphertext.first(record_size),
                 reinterpret_cast<unsigned char*>(record.data()), tag.data())) {
    return std::unexpected(std::string("cannot decrypt: wrong key or altered message"));
  }
  // Padding: zeros after the delimiter, which is 0x02 in the last record (RFC 8188 §2).
  while (!record.empty() && record.back() == '\0')
    record.pop_back();
  if (record.empty() || record.back() != '\x02')
    return std::unexpected(std::string("not the last record: its delimiter is not 0x02"));
  record.pop_back();
  return record;
}

}  // namespace treve::adapters
