// mlship-server: serves one saved model over KServe v2 with no Python in the
// process (for containers). Same flags as `mlship serve`.
//
//   mlship-server model.pt --port 8000 --max-batch-size 32
//
// SIGINT/SIGTERM stop it gracefully: readiness goes false, new requests get
// 503, accepted ones are answered, then it exits 0. Exit codes: 0 after a
// graceful stop, 1 when the model cannot be loaded or served, 2 on bad flags.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "mlship/deployment/deployment.h"
#include "mlship/engine/model.h"
#include "mlship/tools/server_flags.h"

namespace {

int Fail(int code, const std::string& what, const mlship::Status& status) {
  std::cerr << "mlship-server: " << what << ": " << status.message() << std::endl;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so every thread inherits
  // the mask and sigwait() below is the only place they are delivered.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const char* env_token = std::getenv("MLSHIP_TOKEN");
  auto flags = mlship::ParseServerFlags(std::vector<std::string>(argv + 1, argv + argc), env_token ? env_token : "");
  if (!flags.ok()) return Fail(2, "bad command line", flags.status());
  if (flags->show_help) {
    std::cout << flags->help_text;
    return 0;
  }

  mlship::LoadOptions load;
  load.intra_op_threads = flags->deployment.pool.intra_op_threads;
  auto model = mlship::LoadModel(flags->model_path, load);
  if (!model.ok()) return Fail(1, "cannot load the model", model.status());

  const std::string name = flags->deployment.name;
  const std::string host = flags->deployment.http.host;
  auto dep = mlship::Deployment::Create(std::move(model).value(), std::move(flags).value().deployment);
  if (!dep.ok()) return Fail(1, "cannot serve", dep.status());
  const auto& o = (*dep)->options();
  // One line that scripts can parse for the URL (port 0 picks a free port).
  std::cout << "mlship-server: serving '" << name << "' at http://" << (host.find(':') != std::string::npos ? "[" + host + "]" : host)
            << ":" << (*dep)->port() << " (max_batch_size=" << o.batcher.max_batch_size
            << ", instances=" << o.pool.instances << ", intra_op_threads=" << o.pool.intra_op_threads
            << ", auth=" << (o.http.token.empty() ? "off" : "on") << ")" << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  std::cout << "mlship-server: " << (received == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining" << std::endl;
  (*dep)->Stop(/*drain=*/true);
  std::cout << "mlship-server: stopped" << std::endl;
  return 0;
}
