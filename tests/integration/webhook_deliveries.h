// What a webhook receiver got from trêve, read independently of the daemon's code: the
// deliveries in each request body, the ids a receiver deduplicates on (computed from their
// documented definition), the checks every request must pass (method, content type, Standard
// Webhooks signature, timestamp, ids), the per-recipient order of first arrivals, and a summary
// of the daemon's warnings. Shared by the delivery tests and the crash loop (test and program).
//
// Header-only; everything is `inline` because several test files include it.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {

// ---- the identifiers a receiver deduplicates on, computed independently ------------------------

inline std::string sha256_prefix_id(std::string_view prefix, const std::string& data) {
  return std::string(prefix) + sha256_hex(data).substr(0, 32);
}

// "dlv_" + 32 hex digits of SHA-256 over the length-prefixed source, event id, recipient, role.
inline std::string expected_delivery_id(const std::string& source, const std::string& id,
                                        const std::string& recipient, const std::string& role) {
  std::string data;
  for (const std::string* part : {&source, &id, &recipient, &role})
    data += std::to_string(part->size()) + ":" + *part;
  return sha256_prefix_id("dlv_", data);
}

// "bat_" + 32 hex digits of SHA-256 over the delivery ids, each followed by a newline.
inline std::string expected_batch_id(const std::vector<std::string>& ids) {
  std::string data;
  for (const auto& id : ids)
    data += id + "\n";
  return sha256_prefix_id("bat_", data);
}

// ---- what arrived ------------------------------------------------------------------------------

// One delivery in a request body.
struct Got {
  int request = 0;   // the request's arrival number
  int position = 0;  // index in the request's array (0 for a single object)
  bool in_array = false;
  std::chrono::system_clock::time_point arrived;
  std::chrono::steady_clock::time_point arrived_steady;
  int status = 0;
  std::string webhook_id;
  std::string delivery_id, type, source, id, establishment, category, recipient, role, title,
      received_at, released_at;
  bool urgent = false;
  json::value payload;

  std::string key() const { return source + "\n" + id + "\n" + recipient; }
  std::string recipient_key() const { return source + "\n" + recipient; }
};

inline std::string str_field(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

// The deliveries of a request, in body order; throws on a body that is not one.
inline std::vector<Got> deliveries_of(const WebhookRequest& r) {
  json::value v = json::parse(r.body);
  std::vector<const json::object*> objects;
  const bool array = v.is_array();
  if (array) {
    for (const auto& el : v.as_array())
      objects.push_back(&el.as_object());
  } else {
    objects.push_back(&v.as_object());
  }
  std::vector<Got> out;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const json::object& o = *objects[i];
    Got g;
    g.request = r.n;
    g.position = static_cast<int>(i);
    g.in_array = array;
    g.arrived = r.arrived;
    g.arrived_steady = r.arrived_steady;
    g.status = r.status;
    g.webhook_id = r.webhook_id;
    g.type = str_field(o, "type");
    g.delivery_id = str_field(o, "delivery_id");
    g.source = str_field(o, "source");
    g.id = str_field(o, "id");
    g.establishment = str_field(o, "establishment");
    g.category = str_field(o, "category");
    g.recipient = str_field(o, "recipient");
    g.role = str_field(o, "role");
    g.title = str_field(o, "title");
    g.received_at = str_field(o, "received_at");
    g.released_at = str_field(o, "released_at");
    if (auto it = o.find("urgent"); it != o.end() && it->value().is_bool())
      g.urgent = it->value().as_bool();
    if (auto it = o.find("payload"); it != o.end())
      g.payload = it->value();
    out.push_back(std::move(g));
  }
  return out;
}

// Every delivery of every request, in arrival order (then body order).
inline std::vector<Got> all_deliveries(const std::vector<WebhookRequest>& requests) {
  std::vector<Got> out;
  for (const auto& r : requests) {
    for (auto& g : deliveries_of(r))
      out.push_back(std::move(g));
  }
  return out;
}

// Problems with one request as a Standard Webhooks request from trêve (empty: none): method,
// content type, signature (independent verifier), timestamp close to its arrival, webhook-id
// equal to the delivery id (one delivery) or the batch id (an array), ids as documented.
inline std::vector<std::string> request_problems(const WebhookRequest& r,
                                                 const WebhookVerifier& verifier) {
  std::vector<std::string> p;
  const std::string at = "request #" + std::to_string(r.n) + " (" + r.webhook_id + "): ";
  if (r.method != "POST")
    p.push_back(at + "method " + r.method);
  if (r.content_type.find("application/json") == std::string::npos)
    p.push_back(at + "content type \"" + r.content_type + "\"");
  if (auto why = verifier.check(r); !why.empty())
    p.push_back(at + "signature: " + why);
  try {
    const long long ts = std::stoll(r.webhook_timestamp);
    const long long arrived =
        std::chrono::duration_cast<std::chrono::seconds>(r.arrived.time_since_epoch()).count();
    if (ts > arrived + 1 || ts < arrived - 10) {
      p.push_back(at + "webhook-timestamp " + r.webhook_timestamp +
                  " is not close to its arrival (" + std::to_string(arrived) + ")");
    }
  } catch (const std::exception&) {
    p.push_back(at + "webhook-timestamp \"" + r.webhook_timestamp + "\" is not a number");
  }
  std::vector<Got> ds;
  try {
    ds = deliveries_of(r);
  } catch (const std::exception& e) {
    p.push_back(at + "body is not a delivery or an array of deliveries: " + e.what() + ": " +
                r.body);
    return p;
  }
  std::vector<std::string> ids;
  for (const auto& g : ds) {
    ids.push_back(g.delivery_id);
    if (g.type != "treve.delivery")
      p.push_back(at + "type \"" + g.type + "\"");
    const std::string expected = expected_delivery_id(g.source, g.id, g.recipient, g.role);
    if (g.delivery_id != expected) {
      p.push_back(at + "delivery_id " + g.delivery_id + " for " + g.source + "/" + g.id + "/" +
                  g.recipient + "/" + g.role + ", expected " + expected);
    }
  }
  if (ds.size() == 1 && !ds[0].in_array) {
    if (r.webhook_id != ds[0].delivery_id)
      p.push_back(at + "webhook-id differs from the body's delivery_id " + ds[0].delivery_id);
  } else {
    if (r.webhook_id != expected_batch_id(ids))
      p.push_back(at + "batch webhook-id, expected " + expected_batch_id(ids));
  }
  return p;
}

inline std::vector<std::string> all_request_problems(const std::vector<WebhookRequest>& requests,
                                                     const WebhookVerifier& verifier) {
  std::vector<std::string> out;
  for (const auto& r : requests) {
    for (auto& s : request_problems(r, verifier))
      out.push_back(std::move(s));
  }
  return out;
}

inline std::string first_few(const std::vector<std::string>& v, std::size_t n = 10) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < n; ++i)
    out += "  " + v[i] + "\n";
  if (v.size() > n)
    out += "  … and " + std::to_string(v.size() - n) + " more\n";
  return out;
}

// Per recipient (source + recipient id), the event ids of the FIRST arrival of each delivery,
// in arrival order.
inline std::map<std::string, std::vector<std::string>> first_arrival_order(
    const std::vector<Got>& got) {
  std::map<std::string, std::vector<std::string>> out;
  std::set<std::string> seen;
  for (const auto& g : got) {
    if (seen.insert(g.key()).second)
      out[g.recipient_key()].push_back(g.id);
  }
  return out;
}

// The daemon's warnings and errors, counted by event name ("warning event=dispatch.x": 3).
inline std::string log_summary(const std::string& log) {
  std::map<std::string, int> counts;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    for (const char* level : {" warning ", " error ", " critical "}) {
      auto at = line.find(level);
      if (at == std::string::npos)
        continue;
      auto ev = line.find("event=", at);
      const std::string name = ev == std::string::npos
                                   ? line.substr(at)
                                   : line.substr(ev, line.find_first_of(" :", ev) - ev);
      ++counts[std::string(level).substr(1) + name];
    }
  }
  std::string out;
  for (const auto& [k, n] : counts)
    out += k + " x" + std::to_string(n) + "; ";
  return out.empty() ? "none" : out;
}

}  // namespace treve::itest
