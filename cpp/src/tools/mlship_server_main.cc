// mlship-server: serves one saved model over KServe v2 with no Python in the
// process (for containers). Same flags as `mlship serve`.
//
//   mlship-server model.pt --port 8000 --max-batch-size 32
//
// SIGINT/SIGTERM stop it gracefully: readiness goes false, new requests get
// 503, accepted ones are answered, then it exits 0. Exit codes: 0 after a
// graceful stop, 1 when the model (or the fallback, or the reference against
// the model) cannot be loaded or served, 2 on bad flags, including a
// --reference file that is not a float32/float64 .npy file.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "mlship/deployment/deployment.h"
#include "mlship/engine/model.h"
#include "mlship/tools/npy_file.h"
#include "mlship/tools/npy_tensor.h"
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

  // The reference file is read before any model loads, so a bad one is a
  // quick flag error.
  std::optional<mlship::NpyArray> reference;
  if (!flags->reference_path.empty()) {
    auto read = mlship::ReadNpyFile(flags->reference_path);
    if (!read.ok()) return Fail(2, "bad command line", read.status());
    reference = std::move(read).value();
  }

  mlship::LoadOptions load;
  load.intra_op_threads = flags->deployment.pool.intra_op_threads;
  auto model = mlship::LoadModel(flags->model_path, load);
  if (!model.ok()) return Fail(1, "cannot load the model", model.status());
  std::shared_ptr<mlship::Model> fallback;
  if (!flags->fallback_path.empty()) {
    auto loaded = mlship::LoadModel(flags->fallback_path, load);
    if (!loaded.ok()) return Fail(1, "cannot load the fallback model", loaded.status());
    fallback = std::move(loaded).value();
  }

  const std::string name = flags->deployment.name;
  const std::string host = flags->deployment.http.host;
  auto dep = mlship::Deployment::Create(std::move(model).value(), std::move(flags).value().deployment, fallback);
  if (!dep.ok()) return Fail(1, "cannot serve", dep.status());
  if (reference) {
    mlship::Status profiled = (*dep)->SetReference(mlship::NpyToTensor(*reference));
    if (!profiled.ok()) return Fail(1, "cannot use the reference", profiled);
    reference.reset();  // profiled; the raw values are no longer needed
  }
  const auto& o = (*dep)->options();
  // One line that scripts can parse for the URL (port 0 picks a free port).
  std::cout << "mlship-server: serving '" << name << "' at http://" << (host.find(':') != std::string::npos ? "[" + host + "]" : host)
            << ":" << (*dep)->port() << " (max_batch_size=" << o.batcher.max_batch_size
            << ", instances=" << o.pool.instances << ", intra_op_threads=" << o.pool.intra_op_threads
            << ", auth=" << (o.http.token.empty() ? "off" : "on") << ", reference=" << (o.monitoring && (*dep)->monitor()->reference_features() > 0 ? "on" : "off")
            << ", fallback=" << (o.monitor.slo ? "on" : "off") << ")" << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  std::cout << "mlship-server: " << (received == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining" << std::endl;
  (*dep)->Stop(/*drain=*/true);
  std::cout << "mlship-server: stopped" << std::endl;
  return 0;
}
