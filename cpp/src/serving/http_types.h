// Beast message types and response builders shared by the server's pieces
// (internal).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http.hpp>

#include "mlship/status.h"

namespace mlship::serving::internal {

namespace http = boost::beast::http;

// A whole request, body included (bounded by max_body_bytes).
using HttpRequest = http::request<http::string_body>;
// A response; the session fills in version, keep-alive and Content-Length.
using HttpResponse = http::response<http::string_body>;

// Where the answer to one request goes: implemented by the connection
// (Session). Respond must be called exactly once per request, on executor().
class Responder {
 public:
  virtual ~Responder() = default;
  // Sends `response` to the client.
  virtual void Respond(HttpResponse response) = 0;
  // The connection's strand: post here from other threads.
  virtual boost::asio::any_io_executor executor() = 0;
  // The request was handed to Backend::Infer, which accounts for its
  // outcome; an error answered after this is not a refusal. Called on
  // executor().
  virtual void HandedToBackend() {}
};

// A response with `body` and Content-Type application/json.
HttpResponse JsonResponse(http::status status, std::string body);

// The most bytes of an error message sent to a client. Longer messages
// (one that quotes a huge model name or path, say) are cut there.
inline constexpr std::size_t kMaxErrorMessageBytes = 1024;

// `message` cut to kMaxErrorMessageBytes (at a UTF-8 boundary), ending in
// "..." when it was longer (error bodies are ASCII: see EncodeErrorBody).
std::string BoundedMessage(std::string_view message);

// {"error": message} with the HTTP status `http_status` (a 503 also gets
// Retry-After: 1); the message is bounded (BoundedMessage).
HttpResponse ErrorResponse(int http_status, std::string_view message);

// {"error": status.message()} with HttpStatusFor(status.code()).
HttpResponse ErrorResponse(const Status& status);

}  // namespace mlship::serving::internal
