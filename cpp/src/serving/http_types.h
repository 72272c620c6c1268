// Beast message types and response builders shared by the server's pieces
// (internal).
#pragma once

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

// {"error": message} with the HTTP status `http_status` (a 503 also gets
// Retry-After: 1).
HttpResponse ErrorResponse(int http_status, std::string_view message);

// {"error": status.message()} with HttpStatusFor(status.code()).
HttpResponse ErrorResponse(const Status& status);

}  // namespace mlship::serving::internal
