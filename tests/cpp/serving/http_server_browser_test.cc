// What a web page can make a browser send to a server on the user's machine:
// DNS rebinding (a foreign Host), cross-site requests (Origin) and CORS
// "simple" requests (text/plain bodies, no preflight).
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

class HttpServerBrowserTest : public ServerTest {};

TEST_F(HttpServerBrowserTest, AForeignHostIsRefusedOnLoopback) {
  // A rebinding page at http://evil.example:8000 reaches 127.0.0.1 with
  // Host: evil.example:8000; without a token (the loopback default) it read
  // metadata, metrics and outputs.
  StartServer();
  auto client = Connect();
  for (const char* target : {"/v2", "/v2/models/doubler"}) {
    Response response = client->Get(target, {{"Host", "evil.example:8000"}});
    EXPECT_EQ(response.result_int(), 403) << target;
    EXPECT_TRUE(Contains(ErrorMessage(response), "DNS rebinding")) << ErrorMessage(response);
  }
  Response infer = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), {{"Host", "evil.example"}});
  EXPECT_EQ(infer.result_int(), 403);
  EXPECT_EQ(backend_.infer_calls(), 0);
  // Probes are never checked; loopback names are served.
  EXPECT_EQ(Connect()->Get("/v2/health/live", {{"Host", "evil.example"}}).result_int(), 200);
  for (const char* host : {"localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"}) {
    EXPECT_EQ(Connect()->Get("/v2", {{"Host", host}}).result_int(), 200) << host;
  }
}

TEST_F(HttpServerBrowserTest, ConfiguredHostsAreServed) {
  HttpServerOptions options;
  options.allowed_hosts = {"mlship.internal"};
  StartServer(options);
  EXPECT_EQ(Connect()->Get("/v2", {{"Host", "mlship.internal:8000"}}).result_int(), 200);
  EXPECT_EQ(Connect()->Get("/v2", {{"Host", "other.internal"}}).result_int(), 403);
}

TEST_F(HttpServerBrowserTest, ACrossSiteOriginIsRefusedAndTheServersOwnIsNot) {
  StartServer();
  Response foreign = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}),
                                     {{"Origin", "https://evil.example"}});
  EXPECT_EQ(foreign.result_int(), 403);
  EXPECT_TRUE(Contains(ErrorMessage(foreign), "allowed_origins"));
  EXPECT_EQ(backend_.infer_calls(), 0);
  const std::string own = "http://127.0.0.1:" + std::to_string(port_);
  Response same = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}),
                                  {{"Host", "127.0.0.1:" + std::to_string(port_)}, {"Origin", own}});
  EXPECT_EQ(same.result_int(), 200) << same.body();
  EXPECT_EQ(same[http::field::access_control_allow_origin], "");  // same origin needs no CORS
}

TEST_F(HttpServerBrowserTest, AllowedOriginsGetCorsHeadersAndAPreflight) {
  HttpServerOptions options;
  options.allowed_origins = {"https://app.example.com"};
  StartServer(options);
  Response preflight;
  Request options_request = MakeRequest(http::verb::options, "/v2/models/doubler/infer", "",
                                        {{"Origin", "https://app.example.com"},
                                         {"Access-Control-Request-Method", "POST"}});
  ASSERT_FALSE(Connect()->Send(std::move(options_request), preflight));
  EXPECT_EQ(preflight.result_int(), 204);
  EXPECT_EQ(preflight[http::field::access_control_allow_origin], "https://app.example.com");
  Response response = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}),
                                      {{"Origin", "https://app.example.com"}});
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[http::field::access_control_allow_origin], "https://app.example.com");
}

TEST_F(HttpServerBrowserTest, InferNeedsJsonOrOctetStream) {
  // text/plain is what a page's fetch() sends without a preflight.
  StartServer();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
    Response response = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), {{"Content-Type", type}});
    EXPECT_EQ(response.result_int(), 415) << type;
    EXPECT_TRUE(Contains(ErrorMessage(response), "application/json")) << ErrorMessage(response);
  }
  EXPECT_EQ(backend_.infer_calls(), 0);
  EXPECT_EQ(Connect()
                ->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}),
                       {{"Content-Type", "application/json; charset=utf-8"}})
                .result_int(),
            200);
  // No type at all is a browser's Blob upload when an Origin comes with it.
  Request untyped = MakeRequest(http::verb::post, "/v2/models/doubler/infer", DoublerRequest({1, 2, 3}),
                                {{"Origin", "http://127.0.0.1:" + std::to_string(port_)},
                                 {"Host", "127.0.0.1:" + std::to_string(port_)}});
  untyped.erase(http::field::content_type);
  untyped.prepare_payload();
  Response response;
  ASSERT_FALSE(Connect()->Send(std::move(untyped), response));
  EXPECT_EQ(response.result_int(), 415);
}

TEST_F(HttpServerBrowserTest, PagesCannotBeFramedAndHtmlGetsAContentSecurityPolicy) {
  StartServer();
  ASSERT_TRUE(server_
                  ->AddGetRoute("/page", [] { return StatusOr<HttpContent>(HttpContent{"<p>hi</p>", "text/html"}); })
                  .ok());
  Response page = Connect()->Get("/page");
  EXPECT_EQ(page.result_int(), 200);
  EXPECT_EQ(page[http::field::x_frame_options], "DENY");
  EXPECT_TRUE(Contains(std::string(page["Content-Security-Policy"]), "frame-ancestors 'none'"));
  Response json = Connect()->Get("/v2");
  EXPECT_EQ(json["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(json["Content-Security-Policy"], "");
}

}  // namespace
}  // namespace mlship::serving::testing
