// GrpcServer: options, credentials, the gRPC server's start and drain.
#include "mlship/serving/grpc_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "audit_log.h"
#include "grpc_service.h"
#include "tls_context.h"

namespace mlship::serving {

namespace {

// The TLS files gRPC reads: checked copies of tls_cert, tls_key and
// tls_client_ca in a private directory (0700, files 0600, removed with the
// server). gRPC's own TLS stack (not Boost's, as HTTP) only takes new
// certificates from a certificate provider; its FileWatcherCertificateProvider
// re-reads files on an interval. Pointing it at the user's files would load a
// half-renewed pair (a new certificate with the old key) unchecked, so it
// watches these copies instead, which change only when ReadTlsPem accepted
// the new files (at start and on each reload, e.g. SIGHUP): a bad file never
// reaches gRPC, and a good one does within kRefreshSeconds.
class TlsFiles {
 public:
  static constexpr unsigned kRefreshSeconds = 1;

  static StatusOr<std::unique_ptr<TlsFiles>> Create(const HttpServerOptions& common) {
    std::string pattern = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) +
                          "/mlship-grpc-tls-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::Unavailable("cannot make a private directory for the gRPC server's TLS files in " + pattern);
    }
    auto files = std::unique_ptr<TlsFiles>(new TlsFiles(common, pattern));
    RETURN_IF_ERROR(files->Refresh());
    return files;
  }
  ~TlsFiles() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Reads and checks the configured files; writes the copies only when
  // they pass.
  Status Refresh() {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(internal::TlsPem pem,
                     internal::ReadTlsPem(common_.tls_cert, common_.tls_key, common_.tls_client_ca));
    // Key first: within the moment between the two renames gRPC may read the
    // new key with the old certificate; it then reads the pair again a
    // refresh later.
    RETURN_IF_ERROR(Replace(key_path(), pem.private_key));
    RETURN_IF_ERROR(Replace(cert_path(), pem.cert_chain));
    if (!pem.client_ca.empty()) RETURN_IF_ERROR(Replace(ca_path(), pem.client_ca));
    return Status::Ok();
  }

  std::string key_path() const { return dir_ + "/key.pem"; }
  std::string cert_path() const { return dir_ + "/cert.pem"; }
  std::string ca_path() const { return dir_ + "/client-ca.pem"; }
  bool mutual() const { return !common_.tls_client_ca.empty(); }

 private:
  TlsFiles(HttpServerOptions common, std::string dir) : common_(std::move(common)), dir_(std::move(dir)) {}

  // Writes `text` to a temporary file (0600) and renames it over `path`.
  static Status Replace(const std::string& path, const std::string& text) {
    const std::string temp = path + ".new";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Unavailable("cannot write " + temp);
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written || std::rename(temp.c_str(), path.c_str()) != 0) return Status::Unavailable("cannot write " + path);
    return Status::Ok();
  }

  const HttpServerOptions common_;
  const std::string dir_;
  std::mutex mu_;
};

// The credentials the server listens with: TLS from the same tls_cert,
// tls_key and tls_client_ca files as HTTP (checked by the same ReadTlsPem),
// plain TCP without them. gRPC's TLS stack offers TLS 1.2 and 1.3 only. With
// a client CA, clients must present a certificate that chains to it (mTLS).
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsFiles* tls) {
  if (tls == nullptr) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls->key_path(), tls->cert_path(), tls->mutual() ? tls->ca_path() : std::string(), TlsFiles::kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls->mutual()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
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
  // The audit log this server made (none given in FrontEndShared), which it
  // starts and stops; null otherwise.
  std::shared_ptr<internal::AuditLog> own_audit;
  std::unique_ptr<internal::InferenceService> service;
  std::unique_ptr<TlsFiles> tls;  // null without TLS
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
                                                         RepositoryControl* repository, FrontEndShared shared) {
  if (backend == nullptr) return Status::InvalidArgument("the gRPC server needs a Backend; got null");
  RETURN_IF_ERROR(ValidateGrpcServerOptions(options));
  auto impl = std::make_unique<Impl>();
  if (shared.inflight == nullptr) shared.inflight = std::make_shared<InflightBudget>(options.common.max_inflight_bytes);
  if (shared.audit == nullptr && !options.common.audit_log.empty()) {
    internal::AuditLogOptions audit;
    audit.path = options.common.audit_log;
    audit.max_bytes = options.common.audit_log_max_bytes;
    audit.keep = options.common.audit_log_keep;
    audit.now = options.common.wall_clock;
    ASSIGN_OR_RETURN(impl->own_audit, internal::AuditLog::Open(std::move(audit)));
    impl->own_audit->Start();
    shared.audit = impl->own_audit;
  }
  impl->state = std::make_shared<internal::GrpcState>(options, backend, repository, std::move(shared));
  RETURN_IF_ERROR(impl->state->tokens.Load());
  impl->service = std::make_unique<internal::InferenceService>(impl->state);

  grpc::ServerBuilder builder;
  if (!options.common.tls_cert.empty()) {
    ASSIGN_OR_RETURN(impl->tls, TlsFiles::Create(options.common));
  }
  builder.AddListeningPort(ListenAddress(options), ServerCredentialsFor(impl->tls.get()), &impl->port);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.common.max_body_bytes));
  builder.SetMaxSendMessageSize(-1);
  // One port per server: a second process must not share it silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // What HTTP bounds per connection, bounded here per server: gRPC 1.51
  // (Debian's) has no connection limit, so calls in flight count against
  // max_connections (CallTicket), idle connections close after
  // idle_timeout, and gRPC's own buffers (messages being received, before
  // a handler can count them) come from a quota of max_inflight_bytes.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(std::min<std::int64_t>(options.common.idle_timeout.count(), INT32_MAX)));
  if (options.common.max_inflight_bytes > 0) {
    grpc::ResourceQuota quota("mlship-grpc");
    quota.Resize(options.common.max_inflight_bytes);
    builder.SetResourceQuota(quota);
  }
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

Status GrpcServer::ReloadTls() {
  if (impl_->tls == nullptr) return Status::Unavailable("the gRPC server does not speak TLS (no tls_cert)");
  return impl_->tls->Refresh();
}

void GrpcServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->state->draining = true;
  // Calls in flight are answered until the deadline, then cancelled; the
  // Backend still answers each (its callback then finishes a cancelled call).
  impl_->server->Shutdown(std::chrono::system_clock::now() + impl_->state->options.common.drain_timeout);
  impl_->server->Wait();
  if (impl_->own_audit) impl_->own_audit->Stop();
}

}  // namespace mlship::serving
