// Reading TLS files and building the server's OpenSSL context.
#include "tls_context.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <utility>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace mlship::serving::internal {
namespace ssl = boost::asio::ssl;

namespace {

// Certificates, keys and CA bundles are a few KiB; a bigger file is a
// mistake (a wrong path), not something to read whole.
constexpr std::size_t kMaxPemFileBytes = std::size_t{1} << 20;

// TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers
// only (Mozilla's "intermediate" list without finite-field DHE). TLS 1.3
// keeps OpenSSL's defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's most recent error as text ("" when there is none); clears the
// error queue so the next call starts clean.
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

StatusOr<std::string> ReadPemFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument(std::string(what) + " '" + path + "' cannot be read (missing, or not readable by " +
                                   "this process)");
  }
  std::string text;
  char chunk[16 << 10];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxPemFileBytes) {
      return Status::InvalidArgument(std::string(what) + " '" + path + "' is larger than " +
                                     std::to_string(kMaxPemFileBytes) + " bytes; expected a PEM file");
    }
  }
  if (in.bad()) return Status::InvalidArgument(std::string(what) + " '" + path + "' could not be read to its end");
  return text;
}

// Every certificate in a PEM text, in order; InvalidArgument when there is
// none or one does not parse.
StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& pem, const std::string& path, const char* what) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  if (!bio) return Status::ResourceExhausted("out of memory reading " + path);
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(cert);
  // Reading stops with "no start line" at the end of the text; anything
  // else is a broken certificate.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = last == 0 || ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (!clean_end) {
    return Status::InvalidArgument(std::string(what) + " '" + path + "' holds a certificate that does not parse (" +
                                   OpenSslError() + ")");
  }
  ERR_clear_error();
  if (certs.empty()) {
    return Status::InvalidArgument(std::string(what) + " '" + path +
                                   "' holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)");
  }
  return certs;
}

}  // namespace

StatusOr<TlsPem> ReadTlsPem(const std::string& cert_file, const std::string& key_file,
                            const std::string& client_ca_file) {
  TlsPem pem;
  ASSIGN_OR_RETURN(pem.cert_chain, ReadPemFile(cert_file, "tls_cert"));
  ASSIGN_OR_RETURN(pem.private_key, ReadPemFile(key_file, "tls_key"));
  ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ParseCertificates(pem.cert_chain, cert_file, "tls_cert"));
  BioPtr key_bio = MemoryBio(pem.private_key);
  if (!key_bio) return Status::ResourceExhausted("out of memory reading " + key_file);
  ERR_clear_error();
  KeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return Status::InvalidArgument("tls_key '" + key_file + "' holds no unencrypted PEM private key (" +
                                   OpenSslError() + "); expected -----BEGIN PRIVATE KEY-----");
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("tls_key '" + key_file + "' is not the key of the certificate in tls_cert '" +
                                   cert_file + "'");
  }
  if (!client_ca_file.empty()) {
    ASSIGN_OR_RETURN(pem.client_ca, ReadPemFile(client_ca_file, "tls_client_ca"));
    ASSIGN_OR_RETURN(std::vector<X509Ptr> cas, ParseCertificates(pem.client_ca, client_ca_file, "tls_client_ca"));
  }
  return pem;
}

StatusOr<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsPem& pem) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                           ssl::context::single_dh_use,
                       ec);
  if (ec) return Status::Internal("cannot set the TLS options: " + ec.message());
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Status::Internal("cannot restrict TLS to 1.2+ with AEAD ciphers: " + OpenSslError());
  }
  context->use_certificate_chain(boost::asio::buffer(pem.cert_chain), ec);
  if (ec) return Status::InvalidArgument("the TLS certificate chain was refused: " + ec.message());
  context->use_private_key(boost::asio::buffer(pem.private_key), ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("the TLS private key was refused: " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::InvalidArgument("the TLS private key does not match the certificate: " + OpenSslError());
  }
  if (!pem.client_ca.empty()) {
    ASSIGN_OR_RETURN(std::vector<X509Ptr> cas, ParseCertificates(pem.client_ca, "tls_client_ca", "tls_client_ca"));
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const X509Ptr& ca : cas) {
      // The store verifies client chains; the list names the CAs to the
      // client in the CertificateRequest.
      if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(native, ca.get()) != 1) {
        return Status::InvalidArgument("a tls_client_ca certificate was refused: " + OpenSslError());
      }
    }
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return Status::Internal("cannot require client certificates: " + ec.message());
    // Sessions resumed under client verification need an id context.
    static constexpr unsigned char kSessionContext[] = "mlship";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return context;
}

TlsContextHolder::TlsContextHolder(std::string cert_file, std::string key_file, std::string client_ca_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), client_ca_file_(std::move(client_ca_file)) {}

Status TlsContextHolder::Load() {
  ASSIGN_OR_RETURN(TlsPem pem, ReadTlsPem(cert_file_, key_file_, client_ca_file_));
  ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> context, MakeServerTlsContext(pem));
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(context);
  return Status::Ok();
}

std::shared_ptr<ssl::context> TlsContextHolder::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace mlship::serving::internal
