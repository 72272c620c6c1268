// GrpcServer: the KServe v2 / Triton gRPC front end
// (inference.GRPCInferenceService), beside HttpServer on the same Backend.
//
// Asynchronous: gRPC's callback API, so no thread waits on a request in
// flight; ModelInfer hands the request to Backend::Infer and finishes the
// call from the Backend's callback. Served: ServerLive, ServerReady,
// ServerMetadata, ModelReady, ModelMetadata, ModelInfer (raw_input_contents
// or typed contents in; raw_output_contents out, or typed contents when the
// request's parameter binary_data_output is false), Triton's ModelConfig and
// ModelStatistics, and RepositoryIndex / RepositoryModelLoad /
// RepositoryModelUnload (admin token, as over HTTP). The other methods of
// Triton's service (streaming, shared memory, trace and log settings)
// answer UNIMPLEMENTED saying so.
//
// Auth is HTTP's: the token in metadata "authorization: Bearer <token>",
// scopes infer (ModelInfer), read (metadata, readiness, config, statistics)
// and admin (repository); the health methods need none. Errors carry the
// gRPC code of the Status code (status.h's table); a wrong token is
// UNAUTHENTICATED, a token without the scope PERMISSION_DENIED, one over its
// rate limit RESOURCE_EXHAUSTED (with retry-after in the trailing metadata).
//
// This header names no gRPC type: the library (mlship_grpc) keeps gRPC and
// protobuf behind it with hidden symbols, away from LibTorch's.
#pragma once

#include <cstdint>
#include <memory>

#include "mlship/serving/backend.h"
#include "mlship/serving/http_server.h"
#include "mlship/serving/repository_control.h"
#include "mlship/status.h"

namespace mlship::serving {

struct GrpcServerOptions {
  // The TCP port. Default 8001 (Triton's gRPC port); 0 picks a free port
  // (read it with port()).
  uint16_t port = 8001;
  // What the front ends share, read from HTTP's options so each is set
  // once: host (and the non-loopback rule), token, admin_token, token_file,
  // rate_limit_per_s/burst (the gRPC server keeps its own buckets), clock,
  // allow_insecure_public_bind, request_timeout, expose_model_errors,
  // error_log, codec (tensor element bound, id length), max_body_bytes
  // (the largest message accepted: beyond it RESOURCE_EXHAUSTED),
  // max_inflight_bytes (see GrpcServer::Create), max_connections (here: the
  // most calls in flight; beyond it UNAVAILABLE), idle_timeout (idle
  // connections are closed), drain_timeout, tls_cert/tls_key/tls_client_ca
  // and the audit log (audit_log, audit_log_max_bytes, audit_log_keep,
  // wall_clock). The HTTP-only fields (headers, cookies, origins, io
  // threads) are not used.
  HttpServerOptions common;
};

// Checks `options` (the shared fields as HTTP does) and says what is wrong.
Status ValidateGrpcServerOptions(const GrpcServerOptions& options);

// Thread-safety: port(), ReloadTokens() and ReloadTls() are safe from any thread;
// Create, Stop and the destructor from one thread at a time.
class GrpcServer {
 public:
  // Validates `options`, binds the port and starts serving (gRPC binds and
  // starts in one step). `backend` and `repository` (may be null: the
  // repository methods then answer UNIMPLEMENTED) must outlive the server
  // and every request handed to them. Unavailable when the port cannot be
  // bound.
  //
  // `shared` (HttpServer::shared() of the HTTP server on the same Backend)
  // makes ModelInfer calls count against HTTP's in-flight byte budget and
  // gRPC's audit events go to HTTP's audit log. Parts left null are made
  // here from common (a budget of max_inflight_bytes; an audit log when
  // audit_log is set, started and stopped by this server).
  static StatusOr<std::unique_ptr<GrpcServer>> Create(const GrpcServerOptions& options, Backend* backend,
                                                      RepositoryControl* repository = nullptr,
                                                      FrontEndShared shared = {});

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;
  // Calls Stop().
  ~GrpcServer();

  // The port bound.
  uint16_t port() const;

  // Re-reads common.token_file (see HttpServer::ReloadTokens).
  Status ReloadTokens();

  // Re-reads common.tls_cert, tls_key and tls_client_ca and checks them as
  // at start; on success new handshakes use them within a second, on
  // failure the server keeps the previous ones and says why. Unavailable
  // when the server does not speak TLS.
  Status ReloadTls();

  // Readiness turns false and new calls get UNAVAILABLE; calls in flight
  // are answered (up to common.drain_timeout, then cancelled); then the
  // server stops. Idempotent.
  void Stop();

  // Opaque: the gRPC server and its service.
  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlship::serving
