// mlship-server: serves one saved model, or every model of a repository,
// over KServe v2 with no Python in the process (for containers). Same flags
// as `mlship serve` (both are generated from the options schema).
//
//   mlship-server model.pt --port 8000 --max-batch-size 32
//   MLSHIP_ADMIN_TOKEN=... mlship-server --repository models/ --port 8000
//
// SIGHUP reloads the TLS certificate, key and client CA (--tls-cert,
// --tls-key, --tls-client-ca) and the token file (--token-file), and logs a
// line saying what was reloaded or why it failed (the old ones then stay).
//
// SIGINT/SIGTERM stop it gracefully: readiness goes false, new requests get
// 503, accepted ones are answered, then it exits 0. A second SIGINT/SIGTERM
// during that drain ends the process at once (exit 1), so an operator (or a
// supervisor that signals twice) is never kept waiting. Exit codes: 0 after a
// graceful stop, 1 when the model (or the fallback, or the reference against
// the model) cannot be loaded or served, 2 on bad flags, including a
// --reference file that is not a float32/float64 .npy file.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "mlship/allocator_tuning.h"
#include "mlship/deployment/deployment.h"
#include "mlship/engine/model.h"
#include "mlship/engine/npy_file.h"
#include "mlship/engine/npy_tensor.h"
#include "mlship/tools/server_flags.h"

namespace {

int Fail(int code, const std::string& what, const mlship::Status& status) {
  std::cerr << "mlship-server: " << what << ": " << status.message() << std::endl;
  return code;
}

std::string UrlOf(const std::string& host, int port, bool tls) {
  return std::string(tls ? "https://" : "http://") + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// " and grpc://host:port" when the gRPC front end is on, else nothing.
std::string GrpcNote(const std::string& host, int grpc_port) {
  if (grpc_port == 0) return "";
  return " and grpc://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(grpc_port);
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// Runs `reload` on SIGHUP and logs its outcome.
void ReloadOnHangup(const std::function<mlship::Status(std::string*)>& reload) {
  std::string done;
  const mlship::Status status = reload(&done);
  if (!status.ok()) {
    std::cout << "mlship-server: SIGHUP: reload failed, still serving with the previous files: " << status.message()
              << (done.empty() ? "" : " (reloaded: " + done + ")") << std::endl;
  } else if (done.empty()) {
    std::cout << "mlship-server: SIGHUP: nothing to reload (no --tls-cert, no --token-file)" << std::endl;
  } else {
    std::cout << "mlship-server: SIGHUP: reloaded " << done << std::endl;
  }
}

// Waits for SIGINT or SIGTERM (running `reload` on each SIGHUP meanwhile),
// then runs `stop` (the graceful drain) on another thread while still
// listening: a second signal exits at once. `signals` holds SIGINT,
// SIGTERM, SIGHUP and SIGUSR1 (which the drain thread sends when it is
// done), blocked in every thread.
int ServeUntilSignalled(const sigset_t& signals, const std::function<void()>& stop,
                        const std::function<mlship::Status(std::string*)>& reload) {
  int received = 0;
  while (true) {
    sigwait(&signals, &received);
    if (received == SIGHUP) {
      ReloadOnHangup(reload);
    } else if (received != SIGUSR1) {
      break;
    }
  }
  std::cout << "mlship-server: " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
            << ", draining (send it again to stop now)" << std::endl;
  const pthread_t main_thread = pthread_self();
  std::thread drain([&stop, main_thread] {
    stop();
    pthread_kill(main_thread, SIGUSR1);
  });
  do {
    sigwait(&signals, &received);
  } while (received == SIGHUP);  // no reload while draining
  if (received != SIGUSR1) {
    std::cout << "mlship-server: second " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
              << ", stopping now without waiting for requests in flight" << std::endl;
    std::_Exit(1);
  }
  drain.join();
  std::cout << "mlship-server: stopped" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so every thread inherits
  // the mask and sigwait() below is the only place they are delivered.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);   // reload (see ServeUntilSignalled)
  sigaddset(&stop_signals, SIGUSR1);  // the drain's "done" (see ServeUntilSignalled)
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const std::string allocator = mlship::TuneAllocator();  // before any model runs (allocator_tuning.h)

  auto flags = mlship::ParseServerFlags(std::vector<std::string>(argv + 1, argv + argc), Getenv("MLSHIP_TOKEN"),
                                        Getenv("MLSHIP_ADMIN_TOKEN"));
  if (!flags.ok()) return Fail(2, "bad command line", flags.status());
  if (flags->show_help) {
    std::cout << flags->help_text;
    return 0;
  }
  auto declared = mlship::DeclaredSignature(*flags);
  if (!declared.ok()) return Fail(2, "bad command line", declared.status());
  const mlship::ServingOptions options = flags->options;
  const std::string host = options.server.http.host;
  const auto& o = options.version_options;
  const std::string settings = "max_batch_size=" + std::to_string(o.batcher.max_batch_size) +
                               ", instances=" + std::to_string(options.server.workers.instances) +
                               ", intra_op_threads=" + (o.intra_op_threads == 0 ? std::string("auto") : std::to_string(o.intra_op_threads)) +
                               ", auth=" + (options.server.http.token.empty() ? "off" : "on") +
                               ", admin=" + (options.server.http.admin_token.empty() ? "off" : "on") +
                               (options.server.http.token_file.empty() ? "" : ", token_file=on") +
                               ", tls=" + (options.server.http.tls_cert.empty()        ? "off"
                                           : options.server.http.tls_client_ca.empty() ? "on"
                                                                                        : "mtls") +
                               ", audit_log=" +
                               (options.server.http.audit_log.empty() ? "off" : options.server.http.audit_log) +
                               ", malloc=" + allocator;

  if (!flags->repository.empty()) {
    auto server = mlship::Server::Create(options, flags->repository);
    if (!server.ok()) return Fail(1, "cannot serve the repository", server.status());
    std::string models;
    for (const std::string& m : (*server)->router().ModelNames()) models += (models.empty() ? "" : ", ") + m;
    // One line that scripts can parse for the URL (port 0 picks a free port).
    std::cout << "mlship-server: serving repository " << flags->repository << " (models: "
              << (models.empty() ? "none" : models) << ") at " << UrlOf(host, (*server)->port(), (*server)->serves_tls())
              << GrpcNote(host, (*server)->grpc_port()) << " (" << settings << ")" << std::endl;
    return ServeUntilSignalled(
        stop_signals, [&server] { (*server)->Stop(/*drain=*/true); },
        [&server](std::string* done) { return (*server)->Reload(done); });
  }

  // The reference file is read before any model loads, so a bad one is a
  // quick flag error.
  std::optional<mlship::NpyArray> reference;
  if (!flags->reference_path.empty()) {
    auto read = mlship::ReadNpyFile(flags->reference_path);
    if (!read.ok()) return Fail(2, "bad command line", read.status());
    reference = std::move(read).value();
  }
  mlship::LoadOptions load;
  load.intra_op_threads = o.intra_op_threads;
  load.signature = *declared;
  auto model = mlship::LoadModel(flags->model_path, load);
  if (!model.ok()) return Fail(1, "cannot load the model", model.status());
  std::shared_ptr<mlship::Model> fallback;
  if (!flags->fallback_path.empty()) {
    auto loaded = mlship::LoadModel(flags->fallback_path, load);
    if (!loaded.ok()) return Fail(1, "cannot load the fallback model", loaded.status());
    fallback = std::move(loaded).value();
  }
  auto dep = mlship::Deployment::Create(std::move(model).value(), options, fallback);
  if (!dep.ok()) return Fail(1, "cannot serve", dep.status());
  if (reference) {
    mlship::Status profiled = (*dep)->SetReference(mlship::NpyToTensor(*reference));
    if (!profiled.ok()) return Fail(1, "cannot use the reference", profiled);
    reference.reset();  // profiled; the raw values are no longer needed
  }
  // One line that scripts can parse for the URL (port 0 picks a free port).
  std::cout << "mlship-server: serving '" << options.name << "' at " << UrlOf(host, (*dep)->port(), (*dep)->serves_tls())
            << GrpcNote(host, (*dep)->grpc_port()) << " (" << settings << ", reference=" << (!flags->reference_path.empty() ? "on" : "off")
            << ", fallback=" << (fallback ? "on" : "off") << ")" << std::endl;

  return ServeUntilSignalled(
      stop_signals, [&dep] { (*dep)->Stop(/*drain=*/true); }, [&dep](std::string* done) { return (*dep)->Reload(done); });
}
