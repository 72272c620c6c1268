// Validating HttpServerOptions, including the refusal to serve publicly
// without a token.
#include <string>

#include <boost/asio/ip/address.hpp>

#include "mlship/serving/http_server.h"

namespace mlship::serving {

namespace {

Status ValidateToken(const std::string& token, const char* what = "token") {
  constexpr std::size_t kMaxTokenBytes = 4096;
  if (token.size() > kMaxTokenBytes) {
    return Status::InvalidArgument(std::string(what) + " must be at most " + std::to_string(kMaxTokenBytes) + " bytes; was " +
                                   std::to_string(token.size()));
  }
  for (char c : token) {
    // Visible ASCII only: a token must fit in an HTTP header unchanged.
    if (c <= ' ' || c > '~') {
      return Status::InvalidArgument(std::string(what) +
                                     " must be printable ASCII without spaces (it travels in an HTTP header)");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateHttpServerOptions(const HttpServerOptions& options) {
  const std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  boost::system::error_code ec;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (ec) {
    return Status::InvalidArgument("host must be an IP address such as 127.0.0.1, ::1 or 0.0.0.0; was '" +
                                   options.host + "'");
  }
  RETURN_IF_ERROR(ValidateToken(options.token));
  RETURN_IF_ERROR(ValidateToken(options.admin_token, "admin_token"));
  if (!options.admin_token.empty() && options.admin_token == options.token) {
    return Status::InvalidArgument("admin_token must differ from token: a client allowed to infer must not be able to "
                                   "load or unload models");
  }
  if (!(options.rate_limit_per_s >= 0 && options.rate_limit_per_s <= 1e9)) {
    return Status::InvalidArgument("rate_limit_per_s must be in [0, 1e9] (0 = no limit); was " +
                                   std::to_string(options.rate_limit_per_s));
  }
  if (!(options.rate_limit_burst >= 0 && options.rate_limit_burst <= 1e9)) {
    return Status::InvalidArgument("rate_limit_burst must be in [0, 1e9] (0 = max(1, rate_limit_per_s)); was " +
                                   std::to_string(options.rate_limit_burst));
  }
  if (options.rate_limit_burst > 0 && options.rate_limit_burst < 1) {
    return Status::InvalidArgument("rate_limit_burst must be at least 1 request when set; was " +
                                   std::to_string(options.rate_limit_burst));
  }
  if (options.dashboard_session_ttl.count() <= 0) {
    return Status::InvalidArgument("dashboard_session_ttl must be positive; was " +
                                   std::to_string(options.dashboard_session_ttl.count()) + " s");
  }
  const bool has_token = !options.token.empty() || !options.token_file.empty();
  if (!address.is_loopback() && !has_token && !options.allow_insecure_public_bind) {
    return Status::InvalidArgument(
        "binding " + options.host +
        " without a token would let anyone who can reach this machine use the models; set a token, or ask for "
        "insecure mode by name (allow_insecure_public_bind / --insecure), or bind 127.0.0.1 (a token file, --token-file, counts as a token)");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Status::InvalidArgument(std::string("TLS needs both tls_cert and tls_key (the certificate chain and its "
                                               "private key, PEM); got only ") +
                                   (options.tls_cert.empty() ? "tls_key" : "tls_cert"));
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return Status::InvalidArgument("tls_client_ca (client certificates, mTLS) needs TLS: set tls_cert and tls_key too");
  }
  for (const auto* path : {&options.tls_cert, &options.tls_key, &options.tls_client_ca}) {
    if (path->size() > 4096 || path->find('\0') != std::string::npos) {
      return Status::InvalidArgument("tls_cert, tls_key and tls_client_ca must be file paths (at most 4096 bytes, "
                                     "no NUL)");
    }
  }
  for (const auto* list : {&options.allowed_hosts, &options.allowed_origins}) {
    const char* what = list == &options.allowed_hosts ? "allowed_hosts" : "allowed_origins";
    for (const std::string& entry : *list) {
      if (entry.empty()) return Status::InvalidArgument(std::string(what) + " must not hold an empty name");
      RETURN_IF_ERROR(ValidateToken(entry, what));
    }
  }
  if (options.io_threads < 1 || options.io_threads > 256) {
    return Status::InvalidArgument("io_threads must be in 1..256; was " + std::to_string(options.io_threads));
  }
  if (options.max_body_bytes == 0) return Status::InvalidArgument("max_body_bytes must be positive; was 0");
  if (options.max_header_bytes < 1024 || options.max_header_bytes > (std::size_t{1} << 30)) {
    return Status::InvalidArgument("max_header_bytes must be in 1024..2^30; was " +
                                   std::to_string(options.max_header_bytes));
  }
  if (options.max_connections == 0) return Status::InvalidArgument("max_connections must be positive; was 0");
  if (options.idle_timeout.count() <= 0) {
    return Status::InvalidArgument("idle_timeout must be positive; was " +
                                   std::to_string(options.idle_timeout.count()) + " ms");
  }
  if (options.drain_timeout.count() < 0) {
    return Status::InvalidArgument("drain_timeout must not be negative; was " +
                                   std::to_string(options.drain_timeout.count()) + " ms");
  }
  if (options.request_timeout.count() < 0) {
    return Status::InvalidArgument("request_timeout must not be negative (0 = none); was " +
                                   std::to_string(options.request_timeout.count()) + " ms");
  }
  if (options.audit_log.size() > 4096 || options.audit_log.find('\0') != std::string::npos) {
    return Status::InvalidArgument("audit_log must be a file path (at most 4096 bytes, no NUL)");
  }
  if (options.audit_log_max_bytes < 1024) {
    return Status::InvalidArgument("audit_log_max_bytes must be at least 1024; was " +
                                   std::to_string(options.audit_log_max_bytes));
  }
  if (options.audit_log_keep < 0 || options.audit_log_keep > 100) {
    return Status::InvalidArgument("audit_log_keep must be in 0..100; was " + std::to_string(options.audit_log_keep));
  }
  const CodecLimits& codec = options.codec;
  if (codec.max_json_depth < 4 || codec.max_json_depth > 1024) {
    return Status::InvalidArgument("codec.max_json_depth must be in 4..1024; was " +
                                   std::to_string(codec.max_json_depth));
  }
  if (codec.max_elements_per_tensor <= 0) {
    return Status::InvalidArgument("codec.max_elements_per_tensor must be positive; was " +
                                   std::to_string(codec.max_elements_per_tensor));
  }
  return Status::Ok();
}

}  // namespace mlship::serving
