// Message encryption for Web Push (RFC 8291) with the `aes128gcm` content coding (RFC 8188):
// what an application server sends to a push service so that only the browser that
// subscribed can read it. Pure functions apart from the per-message randomness (below).
//
// For a subscription's `p256dh` (the browser's P-256 public key, `ua_public`) and `auth` (a
// 16-byte secret), each message gets a fresh sender key pair (`as_private`, `as_public`) and
// a fresh 16-byte salt, and
//   ecdh   = ECDH(as_private, ua_public)
//   IKM    = HKDF-SHA256(salt = auth, ikm = ecdh, info = "WebPush: info\0" || ua_public
//                        || as_public, 32 bytes)
//   CEK    = HKDF-SHA256(salt, IKM, "Content-Encoding: aes128gcm\0", 16 bytes)
//   NONCE  = HKDF-SHA256(salt, IKM, "Content-Encoding: nonce\0", 12 bytes)
//   body   = salt (16) || rs (4, big-endian: 4096) || idlen (1: 65) || as_public (65)
//            || AES-128-GCM(CEK, NONCE, plaintext || 0x02) with its 16-byte tag
// one record, the 0x02 delimiter marking it as the last, no padding after it.
//
// Size: push services accept 4096 bytes of body (RFC 8030 §7.2). Less the 86-byte header, the
// 16-byte tag and the delimiter, a message carries at most 3993 bytes of plaintext.
#pragma once

#include <array>
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

namespace treve::adapters {

inline constexpr std::size_t kWebPushRecordSize = 4096;
inline constexpr std::size_t kWebPushHeaderSize = 16 + 4 + 1 + 65;
inline constexpr std::size_t kWebPushMaxBody = 4096;
inline constexpr std::size_t kWebPushMaxPlaintext = kWebPushMaxBody - kWebPushHeaderSize - 16 - 1;
static_assert(kWebPushMaxPlaintext == 3993);

// The randomness of one message. Drawn afresh for each by default; given only by tests (the
// same key and salt twice would reuse the AES-GCM key and nonce).
struct WebPushSenderSecrets {
  std::array<unsigned char, 32> private_key;  // the sender's ephemeral P-256 scalar
  std::array<unsigned char, 16> salt;
};

// The body of a push message carrying `plaintext` to the subscription whose keys are
// `p256dh` and `auth` (base64url, padded or not, as browsers give them). Errors: a key that is
// not base64url, a `p256dh` that is not an uncompressed point on P-256, an `auth` that is not
// 16 bytes, a plaintext over kWebPushMaxPlaintext.
std::expected<std::string, std::string> web_push_encrypt(std::string_view plaintext,
                                                         std::string_view p256dh,
                                                         std::string_view auth);
std::expected<std::string, std::string> web_push_encrypt(std::string_view plaintext,
                                                         std::string_view p256dh,
                                                         std::string_view auth,
                                                         const WebPushSenderSecrets& secrets);

// What the browser does on receipt: the plaintext of `body`, given the subscription's private
// key (`ua_private`, the 32-byte scalar in base64url) and `auth`. Takes a body of one record
// (what web_push_encrypt writes) with any padding; refuses anything else, a wrong key or an
// altered byte. For tests and for receivers written in C++.
std::expected<std::string, std::string> web_push_decrypt(std::string_view body,
                                                         std::string_view ua_private,
                                                         std::string_view auth);

}  // namespace treve::adapters
