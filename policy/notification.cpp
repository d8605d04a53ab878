#include "policy/notification.h"

#include <array>

namespace treve::policy {
namespace {

constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "message", "grade", "homework", "blog", "news", "schedule", "absence", "alert", "other"};
constexpr std::array<std::string_view, 3> kRoleNames = {"student", "parent", "staff"};

}  // namespace

std::string_view to_string(Category c) {
  return kCategoryNames[static_cast<std::size_t>(c)];
}
std::string_view to_string(Role r) {
  return kRoleNames[static_cast<std::size_t>(r)];
}

std::optional<Category> parse_category(std::string_view s) {
  for (std::size_t i = 0; i < kCategoryNames.size(); ++i) {
    if (kCategoryNames[i] == s)
      return static_cast<Category>(i);
  }
  return std::nullopt;
}

std::optional<Role> parse_role(std::string_view s) {
  for (std::size_t i = 0; i < kRoleNames.size(); ++i) {
    if (kRoleNames[i] == s)
      return static_cast<Role>(i);
  }
  return std::nullopt;
}

}  // namespace treve::policy
