// `treve admin …`: the admin API from a terminal, through the admin listener (TCP or unix
// socket), with the token from TREVE_ADMIN_TOKEN or a file.
#include <array>
#include <cstdlib>
#include <expected>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string_view>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <CLI/CLI.hpp>

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"

namespace treve::cli {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace urls = boost::urls;

// What came back: a JSON answer or an error is read whole; an export that succeeded (CSV, or any
// answer that is neither JSON nor an error) is written to `out` as it arrives, 64 KiB at a time,
// so that a trail of millions of records never sits in memory (`streamed`).
struct Exchanged {
  bhttp::response<bhttp::string_body> response;
  bool streamed = false;
};

template <typename Stream>
Exchanged exchange(Stream& stream, bhttp::request<bhttp::string_body>& req, std::ostream& out) {
  bhttp::write(stream, req);
  boost::beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> head;
  head.body_limit(boost::none);
  bhttp::read_header(stream, buffer, head);
  const auto type = head.get()[bhttp::field::content_type];
  const bool json_answer =
      type.starts_with("application/json") || type.starts_with("application/problem+json");
  Exchanged x;
  if (json_answer || head.get().result_int() >= 300) {
    bhttp::response_parser<bhttp::string_body> whole(std::move(head));
    whole.body_limit(64 * 1024 * 1024);
    bhttp::read(stream, buffer, whole);
    x.response = whole.release();
    return x;
  }
  x.response.result(head.get().result());
  std::array<char, 64 * 1024> piece;
  while (!head.is_done()) {
    head.get().body().data = piece.data();
    head.get().body().size = piece.size();
    boost::system::error_code ec;
    bhttp::read(stream, buffer, head, ec);
    if (ec == bhttp::error::need_buffer)
      ec = {};
    if (ec)
      throw boost::system::system_error(ec);
    out.write(piece.data(), static_cast<std::streamsize>(piece.size() - head.get().body().size));
  }
  out.flush();
  x.streamed = true;
  return x;
}

// Indented JSON, for people.
void pretty(std::ostream& out, const json::value& v, int indent = 0) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object() && !v.as_object().empty()) {
    out << "{\n";
    bool first = true;
    for (const auto& [k, e] : v.as_object()) {
      if (!first)
        out << ",\n";
      first = false;
      out << pad << "  " << json::serialize(json::string(k)) << ": ";
      pretty(out, e, indent + 2);
    }
    out << "\n" << pad << "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out << "[\n";
    bool first = true;
    for (const auto& e : v.as_array()) {
      if (!first)
        out << ",\n";
      first = false;
      out << pad << "  ";
      pretty(out, e, indent + 2);
    }
    out << "\n" << pad << "]";
  } else {
    out << json::serialize(v);
  }
}

// A file's bytes ("-": standard input); nothing when it cannot be read.
std::optional<std::string> read_file(const std::string& path) {
  std::ostringstream s;
  if (path == "-") {
    s << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return std::nullopt;
    s << in.rdbuf();
  }
  return s.str();
}

// A JSON file, parsed: the body of a request is built with Boost.JSON, never by joining text.
std::expected<json::value, std::string> read_json_file(const std::string& path) {
  auto text = read_file(path);
  if (!text)
    return std::unexpected(path + ": cannot read");
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec)
    return std::unexpected(path + ": not JSON: " + ec.message());
  return v;
}

// A TLS client for the admin listener: verifies the listener with `ca_file` (and its name
// against `host`), or trusts exactly the certificates of `pinned_chain` (the configuration's
// own), and shows a client certificate when given one. Throws on unusable files.
net::ssl::context admin_tls_context(const AdminCall& call, const std::string& pinned_chain,
                                    const std::string& host) {
  net::ssl::context context(net::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  if (!call.ca_file.empty()) {
    context.load_verify_file(call.ca_file);
    context.set_verify_callback(net::ssl::host_name_verification(host));
  } else {
    // The listener's own certificate, the first of the chain, is trusted as it is, whoever
    // issued it, whatever name it carries (the command runs beside the daemon and reads the
    // same file); not the intermediates after it, which sign certificates for anyone.
    static constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
    const auto end = pinned_chain.find(kEnd);
    const std::string own =
        pinned_chain.substr(0, end == std::string::npos ? end : end + kEnd.size()) + "\n";
    context.add_certificate_authority(net::buffer(own.data(), own.size()));
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context.native_handle()),
                                X509_V_FLAG_PARTIAL_CHAIN);
  }
  context.set_verify_mode(net::ssl::verify_peer);
  if (!call.client_certificate.empty()) {
    context.use_certificate_chain_file(call.client_certificate);
    context.use_private_key_file(
        call.client_key.empty() ? call.client_certificate : call.client_key,
        net::ssl::context::pem);
  }
  return context;
}

}  // namespace

int admin_call(const AdminCall& call, std::ostream& out, std::ostream& err) {
  std::string address = call.address;
  // The admin listener's certificates, when the configuration gives it TLS.
  std::string pinned_chain;
  if (address.empty()) {
    auto config = load_or_report(call.config_path, err);
    if (!config)
      return kExitFailure;
    address = config->server.admin_listen;
    pinned_chain = config->server.admin_tls.certificate_pem;
  }
  const bool tls = !pinned_chain.empty() || !call.ca_file.empty();
  if (tls && address.starts_with("unix:")) {
    err << "--ca-file: TLS is for a TCP address; a unix socket is reached without it\n";
    return kExitFailure;
  }
  if (!tls && !call.client_certificate.empty()) {
    err << "--client-certificate: the admin listener at " << address
        << " is reached without TLS here; give --ca-file to speak TLS to it\n";
    return kExitFailure;
  }
  std::string token;
  if (!call.token_file.empty()) {
    std::ifstream in(call.token_file);
    std::getline(in, token);
    if (!in && token.empty()) {
      err << call.token_file << ": cannot read the token\n";
      return kExitFailure;
    }
  } else if (const char* t = std::getenv("TREVE_ADMIN_TOKEN")) {
    token = t;
  }
  if (token.empty()) {
    err << "no token: set TREVE_ADMIN_TOKEN or give --token-file\n";
    return kExitFailure;
  }
  bhttp::request<bhttp::string_body> req{call.method, call.target, 11};
  req.set(bhttp::field::host, "treve-admin");
  req.set(bhttp::field::authorization, "Bearer " + token);
  req.set(bhttp::field::user_agent, "treve-admin-cli");
  if (!call.body.empty() || call.method == bhttp::verb::post || call.method == bhttp::verb::put) {
    req.set(bhttp::field::content_type, call.content_type);
    req.body() = call.body;
    req.prepare_payload();
  }
  Exchanged x;
  try {
    net::io_context ioc;
    if (address.starts_with("unix:")) {
      net::local::stream_protocol::socket socket(ioc);
      socket.connect(net::local::stream_protocol::endpoint(address.substr(5)));
      x = exchange(socket, req, out);
    } else {
      const auto colon = address.rfind(':');
      std::string host = address.substr(0, colon);
      if (host.size() > 1 && host.front() == '[')
        host = host.substr(1, host.size() - 2);
      net::ip::tcp::resolver resolver(ioc);
      if (tls) {
        net::ssl::context context = admin_tls_context(call, pinned_chain, host);
        net::ssl::stream<net::ip::tcp::socket> stream(ioc, context);
        boost::system::error_code ec;
        // SNI, for a name (not an address).
        if (net::ip::make_address(host, ec); ec)
          SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
        net::connect(stream.next_layer(), resolver.resolve(host, address.substr(colon + 1)));
        stream.handshake(net::ssl::stream_base::client);
        x = exchange(stream, req, out);
      } else {
        net::ip::tcp::socket socket(ioc);
        net::connect(socket, resolver.resolve(host, address.substr(colon + 1)));
        x = exchange(socket, req, out);
      }
    }
  } catch (const std::exception& e) {
    err << "cannot reach the admin API at " << address << ": " << e.what() << "\n";
    return kExitFailure;
  }
  if (x.streamed)
    return out ? kExitOk : kExitFailure;
  const auto& res = x.response;
  const bool ok = res.result_int() < 300;
  std::ostream& to = ok ? out : err;
  const auto type = res[bhttp::field::content_type];
  if (type.starts_with("application/json") || type.starts_with("application/problem+json")) {
    boost::system::error_code ec;
    auto v = json::parse(res.body(), ec);
    if (!ec) {
      if (!ok)
        to << "HTTP " << res.result_int() << "\n";
      pretty(to, v);
      to << "\n";
      return ok ? kExitOk : kExitFailure;
    }
  }
  if (!ok)
    to << "HTTP " << res.result_int() << "\n";
  to << res.body();
  return ok ? kExitOk : kExitFailure;
}

void add_admin(CLI::App& app, Commands& commands) {
  struct Options {
    AdminCall call;
    std::string uai, file, comment, at, category = "message", role = "student";
    std::string from, to, kind, format = "json";
    std::string source, event_id;
    std::string user, connector;  // preview: a user, per a connector's directory
    std::int64_t version = 0;
    std::optional<std::int64_t> expected;
    bool confirm = false;
    std::vector<std::int64_t> seqs;
    // crisis
    std::string reason, until;
    std::vector<std::string> categories;
    bool release_held = false;
    std::int64_t crisis = 0;
  };
  auto o = std::make_shared<Options>();
  auto* admin = app.add_subcommand("admin", "Call the admin API (docs/admin-api.md)");
  admin->require_subcommand(1);
  admin->add_option("--config", o->call.config_path, "Configuration file (admin_listen)")
      ->capture_default_str();
  admin->add_option("--admin", o->call.address, "HOST:PORT or unix:/PATH of the admin API");
  admin->add_option("--token-file", o->call.token_file,
                    "File holding the admin's token (default: $TREVE_ADMIN_TOKEN)");
  admin->add_option("--ca-file", o->call.ca_file,
                    "Speak TLS, trusting these authorities (default: TLS only when the "
                    "configuration gives the admin listener a certificate, trusted as it is)");
  admin->add_option("--client-certificate", o->call.client_certificate,
                    "PEM client certificate, for an admin listener with admin_tls_client_ca");
  admin->add_option("--client-key", o->call.client_key,
                    "Its PEM private key (default: in the certificate's file)");
  auto uai = [o](CLI::App* c, bool required) {
    auto* opt = c->add_option("--establishment", o->uai, "UAI");
    if (required)
      opt->required();
  };
  // Each subcommand fills in the request, or says why it cannot (exit 1).
  using Build = std::function<std::optional<std::string>(AdminCall&)>;
  auto add = [&](CLI::App* c, Build build) {
    commands.push_back({c, [o, build] {
                          AdminCall call = o->call;
                          if (auto why = build(call)) {
                            std::cerr << *why << '\n';
                            return kExitFailure;
                          }
                          return admin_call(call, std::cout, std::cerr);
                        }});
  };
  auto path = [o](std::string_view what) {
    urls::url u;
    u.set_path("/v1/admin/establishments/" + o->uai + "/" + std::string(what));
    return std::string(u.buffer());
  };
  auto query = [o](std::string_view path, bool with_period) {
    urls::url u;
    u.set_path(path);
    auto params = u.encoded_params();
    const std::vector<std::pair<std::string_view, const std::string*>> all = {
        {"establishment", &o->uai},
        {"from", &o->from},
        {"to", &o->to},
        {"kind", &o->kind},
        {"format", &o->format}};
    for (const auto& [key, value] : all) {
      // Every reserved character percent-encoded, `+` included: in a query it means a space.
      if (!value->empty() && (with_period || key == "establishment"))
        params.append({key, urls::encode(*value, urls::unreserved_chars)});
    }
    return std::string(u.buffer());
  };

  auto* me = admin->add_subcommand("me", "Who the token is, and its establishments");
  add(me, [](AdminCall& c) -> std::optional<std::string> {
    c.target = "/v1/admin/me";
    return std::nullopt;
  });

  auto* policy = admin->add_subcommand("policy", "Read or change an establishment's policy");
  policy->require_subcommand(1);
  auto* get = policy->add_subcommand("get", "The policy, and what is in force");
  uai(get, true);
  add(get, [path](AdminCall& c) -> std::optional<std::string> {
    c.target = path("policy");
    return std::nullopt;
  });
  auto* set = policy->add_subcommand("set", "Save a new version (JSON file of the policy)");
  uai(set, true);
  set->add_option("--file", o->file, "The policy as a JSON object (\"-\": stdin)")->required();
  set->add_option("--comment", o->comment, "Why it changes")->required();
  set->add_option("--expected-version", o->expected, "Refuse if another version was saved");
  set->add_flag("--confirm-weaker", o->confirm, "Accept a policy weaker than the national one");
  add(set, [o, path](AdminCall& c) -> std::optional<std::string> {
    auto document = read_json_file(o->file);
    if (!document)
      return document.error();
    json::object body{
        {"policy", std::move(*document)}, {"comment", o->comment}, {"confirm_weaker", o->confirm}};
    if (o->expected)
      body["expected_version"] = *o->expected;
    c.method = bhttp::verb::put;
    c.target = path("policy");
    c.body = json::serialize(body);
    return std::nullopt;
  });

  auto* versions = admin->add_subcommand("versions", "The versions of a policy");
  uai(versions, true);
  add(versions, [path](AdminCall& c) -> std::optional<std::string> {
    c.target = path("versions");
    return std::nullopt;
  });
  auto* rollback = admin->add_subcommand("rollback", "Restore an earlier version");
  uai(rollback, true);
  rollback->add_option("--version", o->version, "The version to restore")->required();
  rollback->add_option("--comment", o->comment, "Why")->required();
  rollback->add_flag("--confirm-weaker", o->confirm, "Accept a weaker policy");
  add(rollback, [o, path](AdminCall& c) -> std::optional<std::string> {
    c.method = bhttp::verb::post;
    c.target = path("rollback");
    c.body = json::serialize(json::object{
        {"version", o->version}, {"comment", o->comment}, {"confirm_weaker", o->confirm}});
    return std::nullopt;
  });
  auto* preview = admin->add_subcommand("preview", "When a notification would arrive");
  uai(preview, true);
  preview->add_option("--at", o->at, "RFC 3339 instant (default: now)");
  preview->add_option("--category", o->category, "Category")->capture_default_str();
  auto* role = preview->add_option("--role", o->role, "student, parent or staff");
  role->capture_default_str();
  preview->add_option("--file", o->file, "A draft policy (JSON) instead of the one in force");
  auto* user = preview->add_option(
      "--user", o->user, "A user id: role and other establishments from --connector's directory");
  auto* connector = preview->add_option("--connector", o->connector,
                                        "The connector whose directory knows --user");
  user->needs(connector)->excludes(role);
  connector->needs(user);
  add(preview, [o, path](AdminCall& c) -> std::optional<std::string> {
    json::object body{{"category", o->category}};
    if (o->user.empty()) {
      body["role"] = o->role;
    } else {
      body["user"] = o->user;
      body["connector"] = o->connector;
    }
    if (!o->at.empty())
      body["at"] = o->at;
    if (!o->file.empty()) {
      auto draft = read_json_file(o->file);
      if (!draft)
        return draft.error();
      body["policy"] = std::move(*draft);
    }
    c.method = bhttp::verb::post;
    c.target = path("preview");
    c.body = json::serialize(body);
    return std::nullopt;
  });
  auto* ics = admin->add_subcommand("import-ics", "Closed days of an iCalendar file");
  uai(ics, true);
  ics->add_option("--file", o->file, "The .ics file")->required();
  add(ics, [o, path](AdminCall& c) -> std::optional<std::string> {
    auto text = read_file(o->file);
    if (!text)
      return o->file + ": cannot read";
    c.method = bhttp::verb::post;
    c.target = path("ics");
    c.body = std::move(*text);
    c.content_type = "text/calendar";
    return std::nullopt;
  });
  auto* queue = admin->add_subcommand("queue", "Held deliveries of an establishment");
  uai(queue, true);
  add(queue, [query](AdminCall& c) -> std::optional<std::string> {
    c.target = query("/v1/admin/queue", false);
    return std::nullopt;
  });
  auto* dead = admin->add_subcommand("dead-letters", "Deliveries that could not be sent");
  uai(dead, false);
  add(dead, [query](AdminCall& c) -> std::optional<std::string> {
    c.target = query("/v1/admin/dead-letters", false);
    return std::nullopt;
  });
  auto* replay = admin->add_subcommand("replay", "Send dead letters again");
  replay->add_option("--seq", o->seqs, "A dead letter's seq (repeatable)")->required();
  add(replay, [o](AdminCall& c) -> std::optional<std::string> {
    json::array seqs;
    for (auto s : o->seqs)
      seqs.push_back(s);
    c.method = bhttp::verb::post;
    c.target = "/v1/admin/dead-letters/replay";
    c.body = json::serialize(json::object{{"seqs", std::move(seqs)}});
    return std::nullopt;
  });
  auto* event = admin->add_subcommand("event", "One notification: each copy, sink by sink");
  event->add_option("--source", o->source, "The connector that sent it")->required();
  event->add_option("--id", o->event_id, "Its id at that connector")->required();
  add(event, [o](AdminCall& c) -> std::optional<std::string> {
    urls::url u;
    u.set_path("/v1/admin/events");
    auto params = u.encoded_params();
    // Every reserved character percent-encoded, `+` included: in a query it means a space.
    params.append({"source", urls::encode(o->source, urls::unreserved_chars)});
    params.append({"id", urls::encode(o->event_id, urls::unreserved_chars)});
    c.target = std::string(u.buffer());
    return std::nullopt;
  });
  auto* crisis = admin->add_subcommand("crisis", "Crisis mode: notifications delivered at once");
  crisis->require_subcommand(1);
  auto* crisis_list = crisis->add_subcommand("list", "An establishment's crises, newest first");
  uai(crisis_list, true);
  add(crisis_list, [path](AdminCall& c) -> std::optional<std::string> {
    c.target = path("crises");
    return std::nullopt;
  });
  auto* crisis_open = crisis->add_subcommand("open", "Open a crisis (at most 72 h)");
  uai(crisis_open, true);
  crisis_open->add_option("--reason", o->reason, "Why (required)")->required();
  crisis_open->add_option("--until", o->until, "RFC 3339 end, at most 72 h ahead")->required();
  crisis_open->add_option("--category", o->categories,
                          "A category it covers (repeatable; default: all)");
  crisis_open->add_flag("--release-held", o->release_held,
                        "Release at once what is held now in those categories");
  add(crisis_open, [o, path](AdminCall& c) -> std::optional<std::string> {
    json::object body{
        {"reason", o->reason}, {"until", o->until}, {"release_held", o->release_held}};
    if (!o->categories.empty())
      body["categories"] = json::value_from(o->categories);
    c.method = bhttp::verb::post;
    c.target = path("crises");
    c.body = json::serialize(body);
    return std::nullopt;
  });
  auto* crisis_extend = crisis->add_subcommand("extend", "Move a crisis's end later");
  uai(crisis_extend, true);
  crisis_extend->add_option("--id", o->crisis, "The crisis")->required();
  crisis_extend->add_option("--until", o->until, "RFC 3339 end, at most 72 h ahead")->required();
  add(crisis_extend, [o, path](AdminCall& c) -> std::optional<std::string> {
    c.method = bhttp::verb::post;
    c.target = path("crises/" + std::to_string(o->crisis) + "/extend");
    c.body = json::serialize(json::object{{"until", o->until}});
    return std::nullopt;
  });
  auto* crisis_close = crisis->add_subcommand("close", "Close a crisis now");
  uai(crisis_close, true);
  crisis_close->add_option("--id", o->crisis, "The crisis")->required();
  add(crisis_close, [o, path](AdminCall& c) -> std::optional<std::string> {
    c.method = bhttp::verb::post;
    c.target = path("crises/" + std::to_string(o->crisis) + "/close");
    return std::nullopt;
  });

  auto* audit = admin->add_subcommand("audit", "The release log");
  auto* stats = admin->add_subcommand("stats", "Counts for the conseil d'administration");
  for (auto* c : {audit, stats}) {
    uai(c, false);
    c->add_option("--from", o->from, "First day (YYYY-MM-DD) or instant");
    c->add_option("--to", o->to, "Last day or instant");
    c->add_option("--format", o->format, "json or csv")->capture_default_str();
  }
  audit->add_option("--kind", o->kind, "Record kind");
  add(audit, [query](AdminCall& c) -> std::optional<std::string> {
    c.target = query("/v1/admin/audit", true);
    return std::nullopt;
  });
  add(stats, [query](AdminCall& c) -> std::optional<std::string> {
    c.target = query("/v1/admin/stats", true);
    return std::nullopt;
  });
}

}  // namespace treve::cli
