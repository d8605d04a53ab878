// The user directory's contract (docs/connectors.md, "The directory"), as pure functions: the
// body of a `treve.user_lookup` request, and the validation of the directory's answer into
// who each user is (an Open ENT NG profile mapped to a trêve role, the UAIs of their
// structures, a relative's children). No I/O: daemon/directory/ sends the request and caches
// the answers.
//
// User ids, UAIs and children are personal data: nothing here logs them, and an error's
// `scrubbed_pointer` is the only form of its location fit for a log line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/notification.h"

namespace treve::adapters {

// The request's `type`.
inline constexpr std::string_view kUserLookupType = "treve.user_lookup";
// Users named in one request at most; more are asked in several requests.
inline constexpr std::size_t kMaxUsersPerLookup = 100;
// A user id (asked or answered as a child): 1 to this many bytes.
inline constexpr std::size_t kMaxUserIdBytes = 128;
// Per user in an answer.
inline constexpr std::size_t kMaxStructures = 50;
inline constexpr std::size_t kMaxChildren = 20;
// Bytes of an answer read at most (kMaxUsersPerLookup users at their largest fit well below);
// an answer cut there is malformed.
inline constexpr std::size_t kMaxUserLookupAnswer = 1024 * 1024;

// Open ENT NG's profiles, as its directory names them.
enum class Profile : std::uint8_t { student, relative, teacher, personnel, guest };

// "Student", "Relative", "Teacher", "Personnel", "Guest" (exact case); nullopt otherwise.
std::optional<Profile> parse_profile(std::string_view text);
std::string_view to_string(Profile p);

// The trêve role of a profile: Student -> student, Relative -> parent, Teacher and Personnel
// -> staff, Guest -> staff (an adult outside the school's pupils and families: only quiet
// windows apply to them, as to staff; the profile is kept for whoever needs to tell them
// apart).
policy::Role role_of(Profile p);

// Whether `id` may be asked of (or answered by) a directory: 1 to kMaxUserIdBytes bytes of
// UTF-8 without C0 or C1 control characters or DEL.
bool valid_user_id(std::string_view id);

// The request's body: {"type":"treve.user_lookup","source":…,"users":[…]}. `ids` must be
// valid (valid_user_id) and at most kMaxUsersPerLookup.
std::string user_lookup_body(std::string_view source, std::span<const std::string> ids);

struct DirectoryUser {
  Profile profile = Profile::guest;
  std::vector<std::string> structures;  // UAIs, validated, without repeats, in answer order
  std::vector<std::string> children;    // a relative's children's ids; empty otherwise
};

struct DirectoryAnswerError {
  // Where, as an RFC 6901 pointer into the answer ("/users/u-7f3a/structures/1"); may hold a
  // user id: never log it.
  std::string pointer;
  // The same with the user id replaced by "*" ("/users/*/structures/1"): for logs and errors.
  std::string scrubbed_pointer;
  std::string message;  // names no id, no UAI
};

// The users answered among `asked`, in the order of `asked` (those absent are unknown to the
// directory). Members of an answered user other than profile, structures and children are
// ignored, and so are users not asked. The whole answer is refused, with where and why, when
// it is not a JSON object with an object `users`, or any answered user is invalid: profile
// not one of the five, a structure not a valid UAI (policy::parse_uai) or too many, children
// on a non-relative, a child id invalid or too many.
std::expected<std::vector<std::pair<std::string, DirectoryUser>>, DirectoryAnswerError>
parse_user_lookup_answer(std::string_view body, std::span<const std::string> asked);

}  // namespace treve::adapters
