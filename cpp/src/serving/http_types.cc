// Building JSON and error responses.
#include "http_types.h"

#include <utility>

#include "mlship/serving/kserve_codec.h"

namespace mlship::serving::internal {

HttpResponse JsonResponse(http::status status, std::string body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

std::string BoundedMessage(std::string_view message) {
  if (message.size() <= kMaxErrorMessageBytes) return std::string(message);
  std::size_t cut = kMaxErrorMessageBytes;
  // Not inside a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return std::string(message.substr(0, cut)) + "...";
}

HttpResponse ErrorResponse(int http_status, std::string_view message) {
  HttpResponse response =
      JsonResponse(static_cast<http::status>(http_status), EncodeErrorBody(BoundedMessage(message)));
  // Every 503 is retryable (a full queue, a stop in progress, a version
  // being loaded): say when to come back.
  if (http_status == 503) response.set(http::field::retry_after, "1");
  return response;
}

HttpResponse ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), status.message());
}

}  // namespace mlship::serving::internal
