// The canonical notification as the policy engine sees it: who sent it, to whom, what kind.
// Only the fields that decide a release are here; titles and payloads never reach the policy.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/instant.h"

namespace treve::policy {

class PersonalHours;  // policy/personal_hours.h

enum class Category : std::uint8_t {
  message,
  grade,
  homework,
  blog,
  news,
  schedule,
  absence,
  alert,
  other,
};
inline constexpr int kCategoryCount = 9;

enum class Role : std::uint8_t { student, parent, staff };

// Lower-case names as written in events and configuration ("grade", "parent").
std::string_view to_string(Category c);
std::string_view to_string(Role r);
std::optional<Category> parse_category(std::string_view s);
std::optional<Role> parse_role(std::string_view s);

struct Recipient {
  std::string id;
  Role role = Role::student;
  // For a parent: the student this notification concerns (the grade's owner).
  std::optional<std::string> of;
  // The recipient's other establishments (UAIs as parse_uai writes them, never the event's own,
  // no repeats) whose quiet times apply too: a teacher in two collèges, a parent with children
  // in two schools. Held under the strictest of them all (policy/strictest.h). Empty: only the
  // event's establishment applies.
  std::vector<std::string> establishments;
  // The recipient's own quiet hours (a preference their connector set), if any: held during
  // them too, never released earlier for them (policy/personal_hours.h).
  std::shared_ptr<const PersonalHours> personal;
};

struct Notification {
  std::string source;         // connector name
  std::string id;             // unique per source
  std::string establishment;  // UAI
  Category category = Category::other;
  bool urgent = false;
  std::vector<Recipient> recipients;
  // Homework: when it is due (late_homework when its students may only receive it later than
  // the establishment's homework_notice before this).
  std::optional<Instant> due_at;
};

}  // namespace treve::policy
