// POST /v2/models/{name}/outcomes: ground truth that arrived after the
// prediction, joined to it by the request id the response carried.
//
//   {"outcomes": [{"id": "a1f3...", "label": 3}, {"id": "9c2e...", "label": [0, 1]}]}
//   -> {"matched": 2, "unknown": 0}
#include <boost/json.hpp>

#include "request_handler.h"

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

// Most outcomes in one request: bounds the work one body can ask for.
constexpr std::size_t kMaxOutcomes = 100'000;

std::optional<double> NumberOf(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  if (v.is_bool()) return v.get_bool() ? 1.0 : 0.0;
  return std::nullopt;
}

}  // namespace

HttpResponse HandleOutcomes(const ServerState& state, const Route& route, const HttpRequest& request) {
  json::error_code ec;
  json::parse_options options;
  options.max_depth = state.options.codec.max_json_depth;
  const json::value body = json::parse(request.body(), ec, {}, options);
  if (ec) return ErrorResponse(400, "the outcomes body is not valid JSON: " + ec.message());
  const json::object* o = body.if_object();
  const json::value* list = o ? o->if_contains("outcomes") : nullptr;
  if (list == nullptr || !list->is_array()) {
    return ErrorResponse(400, "expected {\"outcomes\": [{\"id\": \"...\", \"label\": value or [values]}, ...]}");
  }
  if (list->get_array().size() > kMaxOutcomes) {
    return ErrorResponse(413, "at most " + std::to_string(kMaxOutcomes) + " outcomes per request; got " +
                                  std::to_string(list->get_array().size()));
  }
  std::vector<std::string> ids;
  std::vector<std::vector<double>> labels;
  for (std::size_t i = 0; i < list->get_array().size(); ++i) {
    const json::object* item = list->get_array()[i].if_object();
    const json::value* id = item ? item->if_contains("id") : nullptr;
    const json::value* label = item ? item->if_contains("label") : nullptr;
    if (id == nullptr || !id->is_string() || label == nullptr) {
      return ErrorResponse(400, "outcome " + std::to_string(i) + " needs a string \"id\" and a \"label\"");
    }
    std::vector<double> values;
    if (label->is_array()) {
      for (const json::value& x : label->get_array()) {
        std::optional<double> v = NumberOf(x);
        if (!v) return ErrorResponse(400, "outcome " + std::to_string(i) + ": labels must be numbers");
        values.push_back(*v);
      }
    } else if (std::optional<double> v = NumberOf(*label)) {
      values.push_back(*v);
    } else {
      return ErrorResponse(400, "outcome " + std::to_string(i) + ": \"label\" must be a number or a list of numbers");
    }
    ids.emplace_back(id->get_string());
    labels.push_back(std::move(values));
  }
  StatusOr<OutcomeCounts> counts = state.backend->RecordOutcomes(route.model, ids, labels);
  if (!counts.ok()) return ErrorResponse(counts.status());
  return JsonResponse(http::status::ok,
                      json::serialize(json::object{{"matched", counts->matched}, {"unknown", counts->unknown}}));
}

}  // namespace mlship::serving::internal
