// `treve dev-receiver`: a webhook receiver for trying trêve out and for connector developers.
// It prints every delivery it gets, says whether its Standard Webhooks signature verifies,
// and answers a chosen status (200 by default). Not for production use.
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <CLI/CLI.hpp>
#include "adapters/outbound/webhook_signature.h"

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/http/server.h"

namespace treve::cli {
namespace {

std::string text_of(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end())
    return "-";
  return it->value().is_string() ? std::string(it->value().get_string())
                                 : boost::json::serialize(it->value());
}

}  // namespace

int dev_receiver(const DevReceiverRequest& request, std::ostream& out, std::ostream& err) {
  std::optional<adapters::WebhookSigner> signer;
  if (!request.secret.empty()) {
    auto s = adapters::WebhookSigner::from_secret(request.secret);
    if (!s) {
      err << "the secret: " << s.error() << '\n';
      return kExitFailure;
    }
    signer = std::move(*s);
  }
  boost::asio::io_context ioc;
  http::ServerOptions options;
  options.body_limit = [](const http::Request&) { return std::size_t{64} << 20; };
  http::Server server(
      ioc,
      [&](http::Request&& req, http::Respond respond) {
        const std::string id(req["webhook-id"]);
        const std::string ts(req["webhook-timestamp"]);
        const std::string sig(req["webhook-signature"]);
        std::string check = "unsigned";
        if (signer) {
          std::int64_t t = 0;
          try {
            t = std::stoll(ts);
          } catch (const std::exception&) {
          }
          check = signer->verify(sig, id, t, req.body()) ? "signature ok" : "SIGNATURE BAD";
        }
        boost::system::error_code ec;
        auto body = boost::json::parse(req.body(), ec);
        auto print = [&](const boost::json::value& v) {
          if (!v.is_object())
            return;
          const auto& o = v.get_object();
          out << "delivery " << text_of(o, "delivery_id") << "  " << text_of(o, "source") << '/'
              << text_of(o, "id") << "  to " << text_of(o, "recipient") << " ("
              << text_of(o, "role") << ")  " << text_of(o, "category") << "  \""
              << text_of(o, "title") << "\"  released " << text_of(o, "released_at") << '\n';
        };
        out << req.method_string() << ' ' << req.target() << "  webhook-id " << id << "  " << check
            << "  answer " << request.status << '\n';
        if (ec) {
          out << "  (body is not JSON)\n";
        } else if (body.is_array()) {
          for (const auto& v : body.as_array()) {
            out << "  ";
            print(v);
          }
        } else {
          out << "  ";
          print(body);
        }
        out.flush();
        http::Response r{static_cast<boost::beast::http::status>(request.status), req.version()};
        r.keep_alive(req.keep_alive());
        r.prepare_payload();
        respond(std::move(r));
      },
      options);
  if (auto r = server.listen(request.listen); !r) {
    err << "cannot listen on " << request.listen << ": " << r.error() << '\n';
    return kExitFailure;
  }
  server.start();
  auto ep = server.local_endpoint();
  err << "dev-receiver listening on " << ep.address().to_string() << ':' << ep.port()
      << (signer ? ", checking signatures" : ", not checking signatures (no --secret-file)")
      << "; Ctrl-C stops it\n";
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& e, int) {
    if (!e)
      server.stop([] {});
  });
  ioc.run();
  return kExitOk;
}

void add_dev_receiver(CLI::App& app, Commands& commands) {
  struct Options {
    DevReceiverRequest request;
    std::string secret_file;
  };
  auto o = std::make_shared<Options>();
  auto* c = app.add_subcommand("dev-receiver",
                               "A webhook receiver that prints what it gets (to try trêve out)");
  c->add_option("--listen", o->request.listen, "HOST:PORT")->capture_default_str();
  c->add_option("--secret-file", o->secret_file, "The sink's secret file: check signatures");
  c->add_option("--status", o->request.status, "HTTP status to answer")
      ->capture_default_str()
      ->check(CLI::Range(200, 599));
  commands.push_back({c, [o] {
                        if (!o->secret_file.empty()) {
                          std::ifstream in(o->secret_file);
                          if (!in || !std::getline(in, o->request.secret)) {
                            std::cerr << o->secret_file << ": cannot read the secret file\n";
                            return kExitFailure;
                          }
                          auto& secret = o->request.secret;
                          while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' '))
                            secret.pop_back();
                        }
                        return dev_receiver(o->request, std::cout, std::cerr);
                      }});
}

}  // namespace treve::cli
