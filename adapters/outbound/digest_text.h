// The morning digest's words, shared by the push and e-mail channels: when a quiet interval
// ends and one recipient has several notifications released at that instant on one channel,
// they go as one message that summarises them in French (docs/delivery.md "Morning digest").
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/outbound/sink.h"

namespace treve::adapters {

struct DigestText {
  // Stable for the same notifications in the same order ("dig_" and 32 hex digits): the id a
  // receiver deduplicates the digest on after a resend.
  std::string id;
  std::string title;  // "5 nouvelles notifications"
  std::string body;   // "2 notes, 1 message, 2 devoirs"
  struct Item {
    std::string delivery_id;
    std::string event_id;
    std::string category;     // as in the event ("grade")
    std::string category_fr;  // "Note"
    std::string title;        // the event's title, or category_fr when it has none
    std::string link;         // payload.link or payload.url when an http(s) URL, else empty
  };
  std::vector<Item> items;  // in release order
  struct Count {
    std::string category;  // "grade"
    std::string label_fr;  // "2 notes"
    std::size_t count = 0;
  };
  std::vector<Count> counts;  // per category, in the categories' order, those present only
};

// The digest of `batch` (one recipient's deliveries, in order). Titles longer than 200
// characters are cut at a character boundary with "…".
DigestText digest_text(std::span<const OutboundDelivery> batch);

// The id of the digest of the deliveries `delivery_ids` (in order), DigestText::id: "dig_" and
// 32 hex digits. The deliveries' ids are the same on every sink, and so is the digest's.
std::string digest_id(std::span<const std::string> delivery_ids);

// The French name of a category ("Note", "Devoir"…) and its counted form ("1 note",
// "3 devoirs").
std::string_view category_fr(std::string_view category);
std::string category_count_fr(std::string_view category, std::size_t n);

// The event's `title` and its payload's link (`link` or `url`, http(s) only), both untrusted
// connector text: bounded, control characters removed.
std::string event_title(std::string_view event_body);
std::string event_link(std::string_view event_body);

}  // namespace treve::adapters
