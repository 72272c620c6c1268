// GrpcServer: options, credentials, the gRPC server's start and drain.
#include "mlship/serving/grpc_server.h"

#include <chrono>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "grpc_service.h"
#include "tls_context.h"

namespace mlship::serving {

namespace {

// The credentials the server listens with: TLS from the same tls_cert,
// tls_key and tls_client_ca files as HTTP (read and checked by the same
// ReadTlsPem), plain TCP without them. gRPC's TLS stack offers TLS 1.2 and
// 1.3 only. With a client CA, clients must present a certificate that chains
// to it (mTLS). The files are read once, at start: SIGHUP reloads HTTP's
// certificate, not gRPC's (docs/security.md).
StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const GrpcServerOptions& options) {
  const HttpServerOptions& common = options.common;
  if (common.tls_cert.empty()) return grpc::InsecureServerCredentials();
  StatusOr<TlsPem> pem = ReadTlsPem(common.tls_cert, common.tls_key, common.tls_client_ca);
  if (!pem.ok()) return pem.status();
  grpc::SslServerCredentialsOptions ssl(pem->client_ca.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = pem->client_ca;
  ssl.pem_key_cert_pairs.push_back({pem->private_key, pem->cert_chain});
  return grpc::SslServerCredentials(ssl);
}

// "127.0.0.1:8001", "[::1]:8001".
std::string ListenAddress(const GrpcServerOptions& options) {
  std::string host = options.common.host == "localhost" ? "127.0.0.1" : options.common.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(options.port);
}

}  // namespace

struct GrpcServer::Impl {
  std::shared_ptr<internal::GrpcState> state;
  std::unique_ptr<internal::InferenceService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

Status ValidateGrpcServerOptions(const GrpcServerOptions& options) {
  HttpServerOptions common = options.common;
  // The HTTP port is not this server's; check the shared fields only.
  common.port = options.port;
  RETURN_IF_ERROR(ValidateHttpServerOptions(common));
  if (options.common.max_body_bytes > static_cast<std::size_t>(INT32_MAX)) {
    return Status::InvalidArgument("the gRPC server's largest message (max_body_bytes) must be at most 2 GiB - 1; was " +
                                   std::to_string(options.common.max_body_bytes));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Create(const GrpcServerOptions& options, Backend* backend,
                                                         RepositoryControl* repository) {
  if (backend == nullptr) return Status::InvalidArgument("the gRPC server needs a Backend; got null");
  RETURN_IF_ERROR(ValidateGrpcServerOptions(options));
  auto impl = std::make_unique<Impl>();
  impl->state = std::make_shared<internal::GrpcState>(options, backend, repository);
  RETURN_IF_ERROR(impl->state->tokens.Load());
  impl->service = std::make_unique<internal::InferenceService>(impl->state);

  grpc::ServerBuilder builder;
  StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentialsFor(options);
  if (!credentials.ok()) return credentials.status();
  builder.AddListeningPort(ListenAddress(options), *credentials, &impl->port);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.common.max_body_bytes));
  builder.SetMaxSendMessageSize(-1);
  // One port per server: a second process must not share it silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return Status::Unavailable("the gRPC server could not listen on " + ListenAddress(options) +
                               " (in use, or not an address of this machine)");
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Stop(); }

uint16_t GrpcServer::port() const { return static_cast<uint16_t>(impl_->port); }

Status GrpcServer::ReloadTokens() { return impl_->state->tokens.Reload(); }

void GrpcServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->state->draining = true;
  // Calls in flight are answered until the deadline, then cancelled; the
  // Backend still answers each (its callback then finishes a cancelled call).
  impl_->server->Shutdown(std::chrono::system_clock::now() + impl_->state->options.common.drain_timeout);
  impl_->server->Wait();
}

}  // namespace mlship::serving
