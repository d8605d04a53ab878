// `treve admin …`: the admin API from a terminal, through the admin listener (TCP or unix
// socket), with the token from TREVE_ADMIN_TOKEN or a file.
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "daemon/cli/commands.h"

namespace treve::cli {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

template <typename Stream>
bhttp::response<bhttp::string_body> exchange(Stream& stream,
                                             bhttp::request<bhttp::string_body>& req) {
  bhttp::write(stream, req);
  boost::beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  bhttp::read(stream, buffer, parser);
  return parser.release();
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

}  // namespace

int admin_call(const AdminCall& call, std::ostream& out, std::ostream& err) {
  std::string address = call.address;
  if (address.empty()) {
    auto config = load_or_report(call.config_path, err);
    if (!config)
      return kExitFailure;
    address = config->server.admin_listen;
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
  bhttp::response<bhttp::string_body> res;
  try {
    net::io_context ioc;
    if (address.starts_with("unix:")) {
      net::local::stream_protocol::socket socket(ioc);
      socket.connect(net::local::stream_protocol::endpoint(address.substr(5)));
      res = exchange(socket, req);
    } else {
      const auto colon = address.rfind(':');
      std::string host = address.substr(0, colon);
      if (host.size() > 1 && host.front() == '[')
        host = host.substr(1, host.size() - 2);
      net::ip::tcp::resolver resolver(ioc);
      net::ip::tcp::socket socket(ioc);
      net::connect(socket, resolver.resolve(host, address.substr(colon + 1)));
      res = exchange(socket, req);
    }
  } catch (const std::exception& e) {
    err << "cannot reach the admin API at " << address << ": " << e.what() << "\n";
    return kExitFailure;
  }
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

}  // namespace treve::cli
