// The server's limits and its robustness: body, header and connection
// limits, idle timeouts, malformed HTTP, pipelining, 100-continue, and
// garbage that must never take it down.
#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <random>
#include <thread>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

namespace beast = boost::beast;

class HttpServerLimitsTest : public ServerTest {};

TEST_F(HttpServerLimitsTest, BodiesOverTheLimitGet413) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  auto client = Connect();
  Response response;
  ASSERT_FALSE(
      client->Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", std::string(4096, ' ')), response));
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_EQ(ErrorMessage(response), "the request body is larger than this server's limit of 1024 bytes");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(backend_.infer_calls(), 0);
  ExpectServerStillAnswers();
}

TEST_F(HttpServerLimitsTest, A413ReachesAClientThatIsStillSendingItsBody) {
  // The client writes all 2 MiB before it reads: the server must keep
  // reading (and discarding) after answering, or the client's write fails
  // on a reset and the 413 is lost.
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Response response;
  const beast::error_code ec =
      Connect()->Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", std::string(2 << 20, ' ')), response);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(response.result_int(), 413);
  ExpectServerStillAnswers();
}

TEST_F(HttpServerLimitsTest, ChunkedBodiesOverTheLimitGet413Too) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Request request = MakeRequest(http::verb::post, "/v2/models/doubler/infer", std::string(3000, ' '));
  request.chunked(true);
  Response response;
  ASSERT_FALSE(Connect()->Send(std::move(request), response));
  EXPECT_EQ(response.result_int(), 413);
  ExpectServerStillAnswers();
}

TEST_F(HttpServerLimitsTest, ChunkedBodiesWithinTheLimitAreServed) {
  StartServer();
  Request request = MakeRequest(http::verb::post, "/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  request.chunked(true);
  Response response;
  ASSERT_FALSE(Connect()->Send(std::move(request), response));
  EXPECT_EQ(response.result_int(), 200) << response.body();
}

TEST_F(HttpServerLimitsTest, AnEndlessChunkExtensionGets431InsteadOfBeingBuffered) {
  // Beast 1.81 buffers a chunk extension whole; the session's bounded read
  // buffer stops it at max_header_bytes + 64 KiB. The extension here never
  // ends, so only a server that gave up early can answer at all. No token is
  // needed to reach /v2/health/live, which made this the cheapest attack.
  HttpServerOptions options;
  options.token = "secret-token-for-this-test";
  StartServer(options);
  const std::string head =
      "GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=";
  Response response;
  ASSERT_FALSE(Connect()->SendRaw(head + std::string(2 << 20, 'a'), response));
  EXPECT_EQ(response.result_int(), 431);
  EXPECT_TRUE(Contains(ErrorMessage(response), "chunk header")) << ErrorMessage(response);
  EXPECT_EQ(Connect()->Get("/v2/health/live").result_int(), 200);
}

TEST_F(HttpServerLimitsTest, ChunkExtensionsWithinTheBoundAreServed) {
  StartServer();
  const std::string body = DoublerRequest({1, 2, 3});
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  const std::string request = "POST /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              std::string(size) + ";note=" + std::string(1000, 'n') + "\r\n" + body + "\r\n0\r\n\r\n";
  Response response;
  ASSERT_FALSE(Connect()->SendRaw(request, response));
  EXPECT_EQ(response.result_int(), 200) << response.body();
}

TEST_F(HttpServerLimitsTest, BigBodiesAreDecodedOffTheIoThreadAndAnsweredInOrder) {
  // Bodies from 256 KiB on go to the decode pool and come back to their
  // connection; one I/O thread serves both connections meanwhile.
  HttpServerOptions options;
  options.io_threads = 1;
  StartServer(options);
  std::vector<float> values(90000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1000);
  const std::string body = DoublerRequest(values);
  ASSERT_GE(body.size(), std::size_t{256} << 10);
  auto client = Connect();
  for (int round = 0; round < 2; ++round) {  // the keep-alive connection carries on after one
    Response response = client->Post("/v2/models/doubler/infer", body);
    ASSERT_EQ(response.result_int(), 200) << response.body().substr(0, 200);
    EXPECT_TRUE(Contains(response.body(), "\"data\":[0,2,4,6,")) << response.body().substr(0, 200);
  }
  std::string bad = body;
  bad.replace(bad.find("\"data\":[0") + 8, 1, "\"zero\"");
  Response refused = client->Post("/v2/models/doubler/infer", bad);
  EXPECT_EQ(refused.result_int(), 400);
  EXPECT_TRUE(Contains(ErrorMessage(refused), "element 0 is a string")) << ErrorMessage(refused);
  EXPECT_EQ(Connect()->Get("/v2/health/live").result_int(), 200);
}

TEST_F(HttpServerLimitsTest, RequestsBeyondTheInflightBudgetGet503UntilBytesAreGivenBack) {
  // Each request counts twice its body. With room for one held request of
  // this size, a second one is refused at its header, before its body is read.
  const std::string body = DoublerRequest(std::vector<float>(30000, 1.0f));
  HttpServerOptions options;
  options.max_inflight_bytes = 3 * body.size();
  StartServer(options);
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  auto held = std::async(std::launch::async, [this, &body] {
    TestClient client(port_);
    return client.Post("/v2/models/doubler/infer", body);
  });
  ASSERT_TRUE(backend_.WaitForHeld(1, std::chrono::seconds(30)));
  Response refused;
  ASSERT_FALSE(Connect()->Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", body), refused));
  EXPECT_EQ(refused.result_int(), 503);
  EXPECT_TRUE(Contains(ErrorMessage(refused), "max_inflight_bytes")) << ErrorMessage(refused);
  EXPECT_EQ(refused[http::field::retry_after], "1");
  // Requests without a body do not count.
  EXPECT_EQ(Connect()->Get("/v2/health/live").result_int(), 200);
  backend_.Release();
  EXPECT_EQ(held.get().result_int(), 200);
  backend_.set_behavior(FakeBackend::Behavior::kCompute);
  // The first request's bytes were given back when its answer was written.
  Response after = Connect()->Post("/v2/models/doubler/infer", body);
  EXPECT_EQ(after.result_int(), 200) << after.body().substr(0, 200);
}

TEST_F(HttpServerLimitsTest, HeadersOverTheLimitGet431) {
  HttpServerOptions options;
  options.max_header_bytes = 2048;
  StartServer(options);
  Response response;
  ASSERT_FALSE(Connect()->Send(MakeRequest(http::verb::get, "/v2", "", {{"X-Padding", std::string(4000, 'p')}}),
                               response));
  EXPECT_EQ(response.result_int(), 431);
  EXPECT_TRUE(Contains(ErrorMessage(response), "limit of 2048 bytes"));
  ExpectServerStillAnswers();
}

TEST_F(HttpServerLimitsTest, MalformedHttpGets400AndTheServerCarriesOn) {
  StartServer();
  for (const std::string& garbage :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET /v2 HTTP/9.9\r\n\r\n"),
        std::string("POST /v2/models/doubler/infer HTTP/1.1\r\nContent-Length: nope\r\n\r\n"),
        std::string("POST /v2/models/doubler/infer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    Response response;
    const beast::error_code ec = Connect()->SendRaw(garbage, response);
    ASSERT_FALSE(ec) << garbage << ": " << ec.message();
    EXPECT_EQ(response.result_int(), 400) << garbage;
    EXPECT_TRUE(Contains(ErrorMessage(response), "malformed HTTP request"));
    ExpectServerStillAnswers();
  }
}

TEST_F(HttpServerLimitsTest, ConnectionsBeyondTheLimitGet503) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  auto first = Connect();
  auto second = Connect();
  // A request on each makes sure both are accepted and counted.
  EXPECT_EQ(first->Get("/v2/health/live").result_int(), 200);
  EXPECT_EQ(second->Get("/v2/health/live").result_int(), 200);

  TestClient third(port_);
  ASSERT_TRUE(third.connected());
  Response rejected;
  ASSERT_FALSE(third.Read(rejected));  // answered without even sending a request
  EXPECT_EQ(rejected.result_int(), 503);
  EXPECT_EQ(ErrorMessage(rejected), "the server has reached its limit of 2 open connections; retry later");

  // Closing one makes room again (the server notices within a moment).
  first.reset();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    TestClient retry(port_);
    Response response;
    served = !retry.Send(MakeRequest(http::verb::get, "/v2/health/live"), response) && response.result_int() == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerLimitsTest, IdleConnectionsAreClosedAfterTheTimeout) {
  HttpServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  auto client = Connect();
  EXPECT_EQ(client->Get("/v2/health/live").result_int(), 200);
  const auto start = std::chrono::steady_clock::now();
  const beast::error_code ec = client->WaitForClose();
  EXPECT_EQ(ec, boost::asio::error::eof) << ec.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(HttpServerLimitsTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  const std::string body = DoublerRequest({1, 2, 3});
  const std::string infer = "POST /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string live = "GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  auto client = Connect();
  Response first;
  ASSERT_FALSE(client->SendRaw(infer + live + infer, first));
  EXPECT_EQ(first.result_int(), 200);
  EXPECT_TRUE(Contains(first.body(), "\"data\":[2,4,6]"));
  Response second;
  ASSERT_FALSE(client->Read(second));
  EXPECT_EQ(second.body(), "{\"live\":true}");
  Response third;
  ASSERT_FALSE(client->Read(third));
  EXPECT_TRUE(Contains(third.body(), "\"data\":[2,4,6]"));
}

TEST_F(HttpServerLimitsTest, ExpectContinueIsAnsweredBeforeTheBody) {
  StartServer();
  const std::string body = DoublerRequest({1, 2, 3});
  auto client = Connect();
  Response interim;
  ASSERT_FALSE(client->SendRaw("POST /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n",
                               interim));
  EXPECT_EQ(interim.result_int(), 100);
  Response final_response;
  ASSERT_FALSE(client->SendRaw(body, final_response));
  EXPECT_EQ(final_response.result_int(), 200);
}

TEST_F(HttpServerLimitsTest, Http10ClientsGetAnAnswerAndAClose) {
  StartServer();
  auto client = Connect();
  Response response;
  ASSERT_FALSE(client->SendRaw("GET /v2/health/live HTTP/1.0\r\n\r\n", response));
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.version(), 10u);
  EXPECT_EQ(client->WaitForClose(), boost::asio::error::eof);
}

TEST_F(HttpServerLimitsTest, RandomGarbageNeverTakesTheServerDown) {
  StartServer();
  std::mt19937 random(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 600);
  // Fragments a fuzzer would splice in: structure that gets past the first checks.
  const std::vector<std::string> fragments = {
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[",
      "]}]}", "[[[[", "\"parameters\":{\"binary_data_size\":", "99999999999999999999", "-1", "1e400", "null",
      "\"shape\":[9223372036854775807,3]", ",", "}", "\"\\ud800\""};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto client = Connect();
  for (int i = 0; i < 300 && std::chrono::steady_clock::now() < deadline; ++i) {
    std::string body;
    const int pieces = length(random) % 12;
    for (int p = 0; p < pieces; ++p) {
      if (random() % 2 == 0) {
        body += fragments[random() % fragments.size()];
      } else {
        for (int b = length(random) % 20; b > 0; --b) body += static_cast<char>(byte(random));
      }
    }
    Headers headers;
    if (i % 5 == 0) {
      headers.emplace_back("Inference-Header-Content-Length", std::to_string(random() % (body.size() + 2)));
    }
    Response response;
    if (client->Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", body, headers), response)) {
      client = Connect();  // the server may close after some errors; reconnect
      continue;
    }
    EXPECT_TRUE(response.result_int() == 200 || response.result_int() == 400 || response.result_int() == 413)
        << response.result_int() << " for body " << body;
  }
  // Raw byte streams, too.
  for (int i = 0; i < 100 && std::chrono::steady_clock::now() < deadline; ++i) {
    std::string bytes;
    for (int b = length(random); b > 0; --b) bytes += static_cast<char>(byte(random));
    bytes += "\r\n\r\n";
    Response response;
    TestClient raw(port_, std::chrono::milliseconds(2000));
    (void)raw.SendRaw(bytes, response);  // any answer or a close is fine; a crash is not
  }
  ExpectServerStillAnswers();
}

}  // namespace
}  // namespace mlship::serving::testing
