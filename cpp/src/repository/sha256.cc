// SHA-256 through OpenSSL's EVP interface; files read in 1 MiB chunks.
#include "mlship/repository/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace mlship::repository {
namespace {

struct DigestContext {
  DigestContext() : ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
  void Update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx, data, n); }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, digest, &length);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    out.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 15];
    }
    return out;
  }
  EVP_MD_CTX* ctx;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Errno() { return std::strerror(errno); }

// Opens `path` for reading, refusing anything but a regular file (links
// included: O_NOFOLLOW).
StatusOr<int> OpenRegular(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("file '" + path + "' does not exist");
    if (errno == ELOOP) return Status::InvalidArgument("'" + path + "' is a symbolic link; only regular files are accepted");
    return Status::Internal("cannot open '" + path + "': " + Errno());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("'" + path + "' is not a regular file");
  }
  return fd;
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  DigestContext ctx;
  ctx.Update(bytes.data(), bytes.size());
  return ctx.HexDigest();
}

StatusOr<FileDigest> Sha256File(const std::string& path) {
  ASSIGN_OR_RETURN(int raw, OpenRegular(path));
  Fd fd(raw);
  DigestContext ctx;
  std::vector<char> buffer(1 << 20);
  FileDigest out;
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Internal("cannot read '" + path + "': " + Errno());
    }
    if (n == 0) break;
    ctx.Update(buffer.data(), static_cast<std::size_t>(n));
    out.bytes += n;
  }
  out.sha256 = ctx.HexDigest();
  return out;
}

StatusOr<FileDigest> CopyAndHash(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(int raw_in, OpenRegular(from));
  Fd in(raw_in);
  Fd out_fd(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (out_fd.get() < 0) return Status::Internal("cannot create '" + to + "': " + Errno());
  DigestContext ctx;
  std::vector<char> buffer(1 << 20);
  FileDigest out;
  while (true) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Internal("cannot read '" + from + "': " + Errno());
    }
    if (n == 0) break;
    ctx.Update(buffer.data(), static_cast<std::size_t>(n));
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out_fd.get(), buffer.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::Internal("cannot write '" + to + "': " + Errno());
      }
      done += w;
    }
    out.bytes += n;
  }
  if (::fsync(out_fd.get()) != 0) return Status::Internal("cannot flush '" + to + "': " + Errno());
  out.sha256 = ctx.HexDigest();
  return out;
}

}  // namespace mlship::repository
