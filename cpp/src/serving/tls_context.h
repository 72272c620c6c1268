// TLS for the server: reading and checking the certificate, key and client
// CA files, and building the OpenSSL context that connections use
// (internal).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "mlship/status.h"

namespace mlship::serving::internal {

// The PEM text of a server's TLS files. Reusable by any front end that
// takes PEM strings (e.g. gRPC's SslServerCredentialsOptions).
struct TlsPem {
  // The certificate chain: the server's certificate first, then any
  // intermediates.
  std::string cert_chain;
  // The private key of the first certificate.
  std::string private_key;
  // CA certificates that client certificates must chain to; empty when
  // clients are not asked for one.
  std::string client_ca;
};

// Reads `cert_file`, `key_file` and (when not empty) `client_ca_file` and
// checks them with OpenSSL: each parses as PEM, the key matches the
// certificate. InvalidArgument naming the file and what is wrong otherwise.
// Files are bounded (1 MiB each).
StatusOr<TlsPem> ReadTlsPem(const std::string& cert_file, const std::string& key_file,
                            const std::string& client_ca_file);

// A server context for `pem`: TLS 1.2 and 1.3 only (no SSL, TLS 1.0 or
// 1.1), no compression, no renegotiation, forward-secret AEAD ciphers for
// TLS 1.2 with the server's preference; with a client CA, clients must
// present a certificate that chains to it (mTLS).
StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const TlsPem& pem);

// The context new connections use, swapped whole by a reload: a connection
// keeps the context it started with. Thread-safe.
class TlsContextHolder {
 public:
  // The files to (re-)read.
  TlsContextHolder(std::string cert_file, std::string key_file, std::string client_ca_file);

  // Reads the files and builds a context; on success it replaces the
  // current one, on error the current one stays and the error says why.
  Status Load();
  // The context for a new connection (null before a successful Load()).
  std::shared_ptr<boost::asio::ssl::context> Current() const;

 private:
  const std::string cert_file_;
  const std::string key_file_;
  const std::string client_ca_file_;
  // Guards current_.
  mutable std::mutex mu_;
  // The context new connections get. Guarded by mu_.
  std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace mlship::serving::internal
