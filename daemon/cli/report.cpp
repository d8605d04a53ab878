// `treve report`: the report to the conseil d'administration of one establishment, as HTML or
// as PDF. It reads the store read-only, as `treve audit stats` does (a running daemon is not
// blocked), and the PDF is printed by Debian's chromium, run headless on the HTML written to a
// temporary file: the daemon itself never runs a browser.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "daemon/audit/council_report.h"
#include "daemon/audit/trail.h"
#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/store/state_dir.h"
#include "policy/uai.h"

extern char** environ;

namespace treve::cli {
namespace {

using audit::Expected;

// A directory under $TMPDIR (or /tmp) removed with everything in it when done.
class ScratchDir {
 public:
  static std::optional<ScratchDir> make() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/treve-report-XXXXXX";
    if (!::mkdtemp(pattern.data()))
      return std::nullopt;
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Runs chromium headless to print `html_file` to `pdf_file`; waits at most `limit`.
Expected<void> print_pdf(const std::string& chromium, const std::string& html_file,
                         const std::string& pdf_file, const std::string& profile,
                         std::chrono::seconds limit) {
  std::vector<std::string> args = {chromium,
                                   "--headless",
                                   "--disable-gpu",
                                   "--no-sandbox",
                                   "--no-first-run",
                                   "--disable-extensions",
                                   "--no-pdf-header-footer",
                                   "--user-data-dir=" + profile,
                                   "--print-to-pdf=" + pdf_file,
                                   "file://" + html_file};
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // chromium's chatter goes nowhere: the report's own output is the PDF file.
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, chromium.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return std::unexpected("cannot run " + chromium + ": " + std::strerror(rc));
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid)
      break;
    if (done < 0 && errno != EINTR)
      return std::unexpected(std::string("waiting for chromium: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::unexpected("chromium did not print the PDF within " +
                             std::to_string(limit.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return std::unexpected("chromium failed to print the PDF (exit status " +
                           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  std::ifstream pdf(pdf_file, std::ios::binary);
  char magic[4] = {};
  if (!pdf.read(magic, 4) || std::string_view(magic, 4) != "%PDF")
    return std::unexpected("chromium wrote no PDF to " + pdf_file);
  return {};
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  return static_cast<bool>(f);
}

}  // namespace

int report(const config::Config& config, const ReportRequest& request, policy::Instant now,
           std::ostream& out, std::ostream& err) {
  if (request.format != "html" && request.format != "pdf") {
    err << "--format: expected html or pdf, got \"" << request.format << "\"\n";
    return kExitFailure;
  }
  if (request.format == "pdf" && request.output.empty()) {
    err << "--output: required with --format pdf (the file to write the PDF to)\n";
    return kExitFailure;
  }
  auto uai = policy::parse_uai(request.establishment);
  if (!uai) {
    err << "--establishment: " << uai.error() << '\n';
    return kExitFailure;
  }
  audit::CouncilRequest asked;
  asked.establishment = uai->code;
  asked.from = request.from;
  asked.to = request.to;
  asked.zone = config.policy->find(*uai).zone();
  auto scope = audit::council_scope(asked);
  if (!scope) {
    err << scope.error() << '\n';
    return kExitFailure;
  }
  std::string chromium = request.chromium;
  if (request.format == "pdf" && ::access(chromium.c_str(), X_OK) != 0) {
    err << "--format pdf: " << chromium
        << " not found: install Debian's chromium (apt-get install chromium) to print the "
           "report to PDF, or use --format html and print it from a browser\n";
    return kExitFailure;
  }
  auto trail = audit::Trail::open_configured(config);
  if (!trail) {
    err << trail.error() << '\n';
    return kExitFailure;
  }
  auto figures = audit::compute_council_figures(**trail, *scope);
  if (!figures) {
    err << figures.error() << '\n';
    return kExitFailure;
  }
  const std::string html =
      audit::council_report_html(*figures, asked, now.time_since_epoch().count());
  if (request.format == "html") {
    if (request.output.empty()) {
      out << html;
      out.flush();
      return out ? kExitOk : kExitFailure;
    }
    if (!write_file(request.output, html)) {
      err << "--output: cannot write " << request.output << ": " << std::strerror(errno) << '\n';
      return kExitFailure;
    }
    return kExitOk;
  }
  auto scratch = ScratchDir::make();
  if (!scratch) {
    err << "cannot make a temporary directory: " << std::strerror(errno) << '\n';
    return kExitFailure;
  }
  const std::string html_file = scratch->path() + "/rapport.html";
  const std::string pdf_file = scratch->path() + "/rapport.pdf";
  if (!write_file(html_file, html)) {
    err << "cannot write " << html_file << ": " << std::strerror(errno) << '\n';
    return kExitFailure;
  }
  if (auto printed = print_pdf(chromium, html_file, pdf_file, scratch->path() + "/profile",
                               std::chrono::seconds(120));
      !printed) {
    err << printed.error() << '\n';
    return kExitFailure;
  }
  std::error_code ec;
  std::filesystem::copy_file(pdf_file, request.output,
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) {
    err << "--output: cannot write " << request.output << ": " << ec.message() << '\n';
    return kExitFailure;
  }
  err << "report written to " << request.output << '\n';
  return kExitOk;
}

void add_report(CLI::App& app, Commands& commands) {
  struct Options {
    std::string config = "/etc/treve/treve.toml";
    ReportRequest request;
  };
  auto o = std::make_shared<Options>();
  auto* c = app.add_subcommand(
      "report", "The report to the conseil d'administration of one establishment (HTML or PDF)");
  c->add_option("--config", o->config, "Configuration file")->capture_default_str();
  c->add_option("--establishment", o->request.establishment, "UAI")->required();
  c->add_option("--from", o->request.from, "First day, YYYY-MM-DD (local)")->required();
  c->add_option("--to", o->request.to, "Last day, included, YYYY-MM-DD")->required();
  c->add_option("--format", o->request.format, "html or pdf")->capture_default_str();
  c->add_option("--output", o->request.output, "File to write (default for html: stdout)");
  c->add_option("--chromium", o->request.chromium, "The chromium that prints the PDF")
      ->capture_default_str();
  commands.push_back({c, [o] {
                        // The establishment's time zone as the daemon has it.
                        auto config = load_in_force_or_report(o->config, std::cerr);
                        if (!config)
                          return kExitFailure;
                        return report(*config, o->request, wall_now(), std::cout, std::cerr);
                      }});
}

}  // namespace treve::cli
