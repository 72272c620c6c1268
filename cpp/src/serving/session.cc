// The per-connection request cycle over Beast.
#include "session.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/string.hpp>

#include <boost/json/parse.hpp>

#include "auth.h"
#include "browser_guard.h"
#include "request_handler.h"
#include "route.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// How long, and how many bytes, a closing connection drains the client's
// leftovers before it gives up and closes hard.
constexpr std::chrono::milliseconds kMaxLingerTime{2000};
constexpr std::size_t kMaxLingerBytes = std::size_t{4} << 20;
constexpr std::size_t kLingerChunkBytes = 16 << 10;

// What the read buffer may hold beyond max_header_bytes. The parser moves
// body bytes out of the buffer as they arrive, so the buffer only ever
// holds an incomplete header, an incomplete chunk header (size and
// extensions) or pipelined requests; Beast 1.81 bounds neither chunk
// extensions nor this buffer by itself. Over the bound a read fails with
// buffer_overflow and the client gets 431.
constexpr std::size_t kReadBufferSlackBytes = 64 << 10;
// A keep-alive connection keeps at most this much buffer between requests.
constexpr std::size_t kIdleReadBufferBytes = 16 << 10;

std::size_t ReadBufferLimit(const HttpServerOptions& options) {
  return options.max_header_bytes + kReadBufferSlackBytes;
}

// HTTP/1.1 interim response for clients that wait before sending a body
// (curl does for bodies over 1 KiB).
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

std::string_view View(beast::string_view text) { return {text.data(), text.size()}; }

// "ip:port", "[v6]:port".
std::string EndpointText(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string ip = address.to_string();
  return (address.is_v6() ? "[" + ip + "]" : ip) + ":" + std::to_string(endpoint.port());
}

// The audit action of a control endpoint, or empty for other routes.
std::string ControlAction(const Route& route) {
  switch (route.kind) {
    case RouteKind::kRepositoryIndex: return "repository.index";
    case RouteKind::kRepositoryLoad: return "repository.load";
    case RouteKind::kRepositoryUnload: return "repository.unload";
    case RouteKind::kRepositoryRollout: return "rollout." + route.action.substr(0, 16);
    default: return {};
  }
}

// What an audit line says about a response: "ok" for a success, else the
// error message it carries (bounded when written).
std::string ResponseDetail(const HttpResponse& response) {
  if (response.result_int() < 400) return "ok";
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(response.body(), ec);
  if (!ec && body.is_object()) {
    if (const boost::json::value* error = body.get_object().if_contains("error"); error && error->is_string()) {
      return std::string(error->get_string());
    }
  }
  return std::string(response.reason());
}

// The stream of a new session: over TLS, with `tls`.
template <class Stream>
Stream MakeStream(tcp::socket socket, asio::ssl::context* tls) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return Stream(std::move(socket), *tls);
  } else {
    return Stream(std::move(socket));
  }
}

// Whether a read error means the client went away (or took too long)
// rather than sent something wrong. Over TLS, a peer that closes without
// close_notify, or a record that fails to decrypt, ends the stream too: no
// HTTP answer could reach it.
bool ClientWentAway(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
         ec == asio::ssl::error::stream_truncated || ec.category() == asio::error::get_ssl_category();
}

}  // namespace

template <class Stream>
Session<Stream>::Session(ServerState& state, tcp::socket socket, Mode mode, std::shared_ptr<asio::ssl::context> tls)
    : state_(state),
      mode_(mode),
      tls_(std::move(tls)),
      stream_(MakeStream<Stream>(std::move(socket), tls_.get())),
      buffer_(ReadBufferLimit(state.options)) {
  if (state_.audit) {
    beast::error_code ignored;
    remote_ = Tcp().socket().remote_endpoint(ignored);
  }
  if (mode_ == Mode::kServe) {
    state_.open_connections.fetch_add(1);
  } else {
    state_.rejecting_connections.fetch_add(1);
  }
}

template <class Stream>
Session<Stream>::~Session() {
  ReleaseInflightBytes();
  state_.UnregisterSession(this);
  if (mode_ == Mode::kServe) {
    state_.open_connections.fetch_sub(1);
  } else {
    state_.rejecting_connections.fetch_sub(1);
  }
}

template <class Stream>
asio::any_io_executor Session<Stream>::executor() {
  return stream_.get_executor();
}

template <class Stream>
void Session<Stream>::Start() {
  state_.RegisterSession(this->shared_from_this());
  asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    // Stop() may have begun between the accept and here: either its Drain()
    // ran before this (posted to the strand first) or its list of sessions
    // was taken before RegisterSession. Both leave draining set, and a TLS
    // session would otherwise wait in its handshake until idle_timeout.
    if (self->draining_ || self->state_.draining.load()) return self->Close(/*drain_client=*/false);
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      self->DetectTls();
    } else {
      self->Begin();
    }
  });
}

template <class Stream>
void Session<Stream>::DetectTls() {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    // A client that connects and sends nothing (or trickles a ClientHello)
    // is cut off after idle_timeout like any idle connection.
    Tcp().expires_after(state_.options.idle_timeout);
    beast::async_detect_ssl(Tcp(), buffer_, beast::bind_front_handler(&Session::OnDetected, this->shared_from_this()));
  }
}

template <class Stream>
void Session<Stream>::OnDetected(beast::error_code ec, bool is_tls) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    if (ec) return Close(/*drain_client=*/false);
    if (!is_tls) {
      // Plain HTTP on the TLS port: say so in plain HTTP, which the client
      // can read, then close. The request itself is never parsed or used.
      phase_ = Phase::kWriting;
      response_ = Audited("refused", ErrorResponse(400, "this server speaks HTTPS only; use an https:// URL"));
      response_.version(11);
      response_.keep_alive(false);
      response_.set(http::field::server, "mlship");
      AddBrowserSafetyHeaders(response_);
      response_.prepare_payload();
      ReportRefusal(400);
      Tcp().expires_after(state_.options.idle_timeout);
      http::async_write(Tcp(), response_, [self = this->shared_from_this()](beast::error_code, std::size_t) {
        self->response_ = {};
        self->Close(/*drain_client=*/true);
      });
      return;
    }
    Tcp().expires_after(state_.options.idle_timeout);
    // What detection read is the start of the ClientHello.
    stream_.async_handshake(asio::ssl::stream_base::server, buffer_.data(),
                            beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
  }
}

template <class Stream>
void Session<Stream>::OnHandshake(beast::error_code ec, std::size_t bytes_used) {
  buffer_.consume(bytes_used);
  if (ec) {
    if (state_.audit && ec != beast::error::timeout && ec != asio::error::operation_aborted &&
        ec != asio::error::eof && ec != asio::error::connection_reset) {
      // A refused client certificate (mTLS) or protocol version is a failed
      // authentication or a refusal; either way worth a line.
      AuditEvent event;
      event.remote = EndpointText(remote_);
      event.who = "anonymous";
      event.action = tls_ && SSL_CTX_get_verify_mode(tls_->native_handle()) != SSL_VERIFY_NONE ? "auth.failed"
                                                                                               : "refused";
      event.detail = "TLS handshake failed: " + ec.message();
      state_.audit->Record(std::move(event));
    }
    return Close(/*drain_client=*/false);
  }
  Begin();
}

template <class Stream>
void Session<Stream>::Begin() {
  if (mode_ == Mode::kReject) {
    RespondAndClose(Audited("refused", ErrorResponse(503, "the server has reached its limit of " +
                                                              std::to_string(state_.options.max_connections) +
                                                              " open connections; retry later")));
    return;
  }
  ReadHeader();
}

template <class Stream>
void Session<Stream>::Drain() {
  asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
    self->draining_ = true;
    // A connection waiting for its next request is closed, and one whose
    // body is still arriving gets its 503 now (see OnReadError) instead of
    // holding the stop until drain_timeout or idle_timeout. The others
    // notice draining_ when their current request is done.
    if (self->phase_ == Phase::kAwaitingRequest || self->phase_ == Phase::kReadingBody) self->Tcp().cancel();
  });
}

template <class Stream>
void Session<Stream>::ReadHeader() {
  if (draining_ || state_.draining.load()) return Close(/*drain_client=*/false);
  phase_ = Phase::kAwaitingRequest;
  request_target_.clear();
  request_method_.clear();
  control_action_.clear();
  control_who_ = {};
  cors_origin_.clear();
  handed_to_backend_ = false;
  // What a big header or pipelined burst made the buffer grow to is given
  // back once it has been parsed.
  if (buffer_.size() == 0 && buffer_.capacity() > kIdleReadBufferBytes) buffer_.shrink_to_fit();
  parser_.emplace();
  parser_->body_limit(state_.options.max_body_bytes);
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(state_.options.max_header_bytes, UINT32_MAX)));
  Tcp().expires_after(state_.options.idle_timeout);
  ReadMoreHeader();
}

// The header and the body are read one read_some at a time rather than with
// Beast's composed async_read_header / async_read: Drain()'s cancel() only
// reaches a read that is pending on the socket, and a composed read between
// two of its reads (bytes just arrived, its next read not yet issued) would
// miss it and wait for the rest of the request until idle_timeout. Checking
// draining_ before each read closes that gap. The deadline set once above
// stays in force across the reads (Beast keeps the expiry until it is set
// again), so idle_timeout still bounds the whole header or body.
template <class Stream>
void Session<Stream>::ReadMoreHeader() {
  http::async_read_some(stream_, buffer_, *parser_,
                        beast::bind_front_handler(&Session::OnHeaderPart, this->shared_from_this()));
}

template <class Stream>
void Session<Stream>::OnHeaderPart(beast::error_code ec, std::size_t bytes) {
  if (ec || parser_->is_header_done()) return OnHeader(ec, bytes);
  if (draining_) return Close(/*drain_client=*/false);
  ReadMoreHeader();
}

template <class Stream>
void Session<Stream>::OnHeader(beast::error_code ec, std::size_t) {
  if (ec) return OnReadError(ec);
  const auto& header = parser_->get();
  request_target_.assign(header.target().data(), header.target().size());
  if (state_.audit) request_method_.assign(View(header.method_string()));
  request_version_ = header.version();
  request_keep_alive_ = header.keep_alive();
  cors_origin_.assign(AllowedCorsOrigin(state_, header));
  if (state_.draining.load()) return RespondAndClose(ErrorResponse(503, "the server is shutting down"));
  if (std::optional<HttpResponse> denial = ScreenRequestHeader(state_, header)) {
    // A request without a body is complete, so the connection can go on;
    // with a body left unread it cannot carry another request.
    phase_ = Phase::kHandling;
    const unsigned status = denial->result_int();
    if (status >= 400) denial = Audited(status == 401 || status == 403 ? "auth.failed" : "refused", std::move(*denial));
    if (parser_->is_done()) return Respond(std::move(*denial));
    return RespondAndClose(std::move(*denial));
  }
  if (!ChargeInflightBytes()) {
    phase_ = Phase::kHandling;
    return RespondAndClose(Audited(
        "refused", ErrorResponse(503, "the server holds as many request bytes as its budget allows "
                                      "(max_inflight_bytes = " +
                                          std::to_string(state_.options.max_inflight_bytes) + "); retry later")));
  }
  if (request_version_ >= 11 && !parser_->is_done() &&
      beast::iequals(header[http::field::expect], "100-continue")) {
    phase_ = Phase::kReadingBody;
    asio::async_write(stream_, asio::buffer(kContinueResponse.data(), kContinueResponse.size()),
                      [self = this->shared_from_this()](beast::error_code write_ec, std::size_t) {
                        if (write_ec) return self->Close(/*drain_client=*/false);
                        self->ReadBody();
                      });
    return;
  }
  ReadBody();
}

template <class Stream>
void Session<Stream>::ReadBody() {
  phase_ = Phase::kReadingBody;
  // Drain() may have come while the 100 Continue was being written.
  if (draining_) {
    return RefuseCutShortBody();
  }
  Tcp().expires_after(state_.options.idle_timeout);
  if (parser_->is_done()) return OnBody({}, 0);  // the body came with the header
  ReadMoreBody();
}

template <class Stream>
void Session<Stream>::ReadMoreBody() {
  http::async_read_some(stream_, buffer_, *parser_,
                        beast::bind_front_handler(&Session::OnBodyPart, this->shared_from_this()));
}

template <class Stream>
void Session<Stream>::OnBodyPart(beast::error_code ec, std::size_t bytes) {
  if (ec || parser_->is_done()) return OnBody(ec, bytes);
  if (draining_) {
    // Drain() came between two reads of a body still on its way; see
    // OnReadError for the same answer when it cancels a pending read.
    return RefuseCutShortBody();
  }
  ReadMoreBody();
}

template <class Stream>
void Session<Stream>::OnBody(beast::error_code ec, std::size_t) {
  if (ec) return OnReadError(ec);
  // No timer runs while the Backend works; the write sets its own.
  Tcp().expires_never();
  phase_ = Phase::kHandling;
  if (draining_ || state_.draining.load()) {
    return RespondAndClose(ErrorResponse(503, "the server is shutting down"));
  }
  if (state_.audit) {
    control_action_ = ControlAction(ParseRoute(request_target_));
    if (!control_action_.empty()) {
      const auto& header = parser_->get();
      control_who_ = state_.tokens.CallerName(View(header[http::field::authorization]));
    }
  }
  try {
    HandleRequest(state_, parser_->release(), this->shared_from_this());
  } catch (...) {
    // Only allocation failure can get here; answer if nobody has yet.
    if (phase_ == Phase::kHandling) RespondAndClose(ErrorResponse(500, "internal error while handling the request"));
  }
}

template <class Stream>
void Session<Stream>::OnReadError(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    return RespondAndClose(Audited("refused", ErrorResponse(413, "the request body is larger than this server's "
                                                                 "limit of " +
                                                                     std::to_string(state_.options.max_body_bytes) +
                                                                     " bytes")));
  }
  if (ec == http::error::header_limit) {
    return RespondAndClose(Audited(
        "refused", ErrorResponse(431, "the request line and headers are larger than this server's limit of " +
                                          std::to_string(state_.options.max_header_bytes) + " bytes")));
  }
  if (ec == http::error::buffer_overflow) {
    return RespondAndClose(Audited(
        "refused",
        ErrorResponse(431, "a header or chunk header (chunk size and extensions) is longer than this server reads at "
                           "once (" +
                               std::to_string(ReadBufferLimit(state_.options)) + " bytes)")));
  }
  if (ec == asio::error::operation_aborted && phase_ == Phase::kReadingBody && draining_) {
    // Drain() cut short a body still on its way: answer, so the client
    // knows to retry elsewhere; Close() then lingers at most kMaxLingerTime.
    return RefuseCutShortBody();
  }
  if (ClientWentAway(ec)) return Close(/*drain_client=*/false);
  // A grammar error (bad method, bad header, bad chunk...): say so and close,
  // since the rest of the byte stream cannot be trusted.
  RespondAndClose(Audited("refused", ErrorResponse(400, "malformed HTTP request: " + ec.message())));
}

template <class Stream>
void Session<Stream>::RefuseCutShortBody() {
  RespondAndClose(ErrorResponse(503, "the server is shutting down; the request body was not complete, "
                                     "retry the request"));
}

template <class Stream>
void Session<Stream>::RespondAndClose(HttpResponse response) {
  close_after_write_ = true;
  // Bytes of this request may still be on their way; see Close().
  drain_client_on_close_ = !parser_.has_value() || !parser_->is_done();
  Respond(std::move(response));
}

template <class Stream>
void Session<Stream>::Respond(HttpResponse response) {
  if (phase_ == Phase::kWriting || phase_ == Phase::kClosing) return;  // one response per request
  phase_ = Phase::kWriting;
  // The request and its tensors are done with once it is answered.
  ReleaseInflightBytes();
  if (!handed_to_backend_ && response.result_int() >= 400) ReportRefusal(static_cast<int>(response.result_int()));
  if (!control_action_.empty()) {
    response = Audited(control_action_, std::move(response));
    control_action_.clear();
  }
  const bool keep_alive = request_keep_alive_ && !close_after_write_ && !draining_ && !state_.draining.load();
  response_ = std::move(response);
  response_.version(request_version_);
  response_.keep_alive(keep_alive);
  response_.set(http::field::server, "mlship");
  AddBrowserSafetyHeaders(response_);
  if (!cors_origin_.empty()) {
    response_.set(http::field::access_control_allow_origin, cors_origin_);
    response_.set(http::field::vary, "Origin");
  }
  response_.prepare_payload();
  Tcp().expires_after(state_.options.idle_timeout);
  http::async_write(stream_, response_, beast::bind_front_handler(&Session::OnWrite, this->shared_from_this()));
}

template <class Stream>
void Session<Stream>::ReportRefusal(int http_status) {
  // A body over the limit is refused as soon as the header announces it,
  // before OnHeader has noted the target; the parser has already stored it
  // (it is empty when the request line was never parsed).
  if (request_target_.empty() && parser_.has_value()) {
    const auto target = parser_->get().target();
    request_target_.assign(target.data(), target.size());
  }
  const Route route = ParseRoute(request_target_);
  RefusedRequest refused;
  if (route.kind == RouteKind::kModelInfer || route.kind == RouteKind::kModelExplain) refused.model = route.model;
  refused.reason = RefusalReasonFor(http_status);
  refused.http_status = http_status;
  try {
    state_.backend->RequestRefused(refused);
  } catch (...) {
    // Counting must never cost the client its answer.
  }
}

template <class Stream>
HttpResponse Session<Stream>::Audited(std::string_view action, HttpResponse response) {
  if (!state_.audit) return response;
  AuditEvent event;
  event.remote = EndpointText(remote_);
  event.action = std::string(action);
  event.status = static_cast<int>(response.result_int());
  event.detail = ResponseDetail(response);
  event.method = request_method_;
  event.path = request_target_;
  std::string_view authorization;
  if (parser_.has_value() && !control_action_.empty()) {
    event.who = std::string(control_who_);  // the request was handed on; its header with it
  } else if (parser_.has_value()) {
    const auto& header = parser_->get();
    // Refused as soon as the header announced it (a body over the limit):
    // the parser holds the request line, which OnHeader never saw (empty
    // when the request line itself was never parsed).
    if (event.path.empty()) {
      event.method.assign(View(header.method_string()));
      event.path.assign(View(header.target()));
    }
    authorization = View(header[http::field::authorization]);
  }
  if (event.who.empty()) {
    event.who = state_.tokens.CallerName(authorization);
  }
  state_.audit->Record(std::move(event));
  return response;
}

template <class Stream>
bool Session<Stream>::ChargeInflightBytes() {
  InflightBudget& budget = *state_.inflight;
  if (budget.budget() == 0 || parser_->is_done()) return true;  // no budget, or no body
  const auto length = parser_->content_length();                // none when chunked
  const std::size_t charge =
      budget.ChargeFor(length ? static_cast<std::size_t>(*length) : state_.options.max_body_bytes);
  if (!budget.Take(charge)) return false;
  charged_bytes_ = charge;
  return true;
}

template <class Stream>
void Session<Stream>::ReleaseInflightBytes() {
  if (charged_bytes_ == 0) return;
  state_.inflight->Give(charged_bytes_);
  charged_bytes_ = 0;
}

template <class Stream>
void Session<Stream>::OnWrite(beast::error_code ec, std::size_t) {
  const bool keep_alive = response_.keep_alive();
  response_ = {};
  if (ec) {
    beast::error_code ignored;
    Tcp().socket().close(ignored);
    return;
  }
  if (!keep_alive) return Close(drain_client_on_close_);
  ReadHeader();
}

template <class Stream>
void Session<Stream>::Close(bool drain_client) {
  if (phase_ == Phase::kClosing) return;
  phase_ = Phase::kClosing;
  beast::error_code ignored;
  // Over TLS no close_notify is sent: every response carries its length,
  // so a client knows where it ends, and waiting for the peer's
  // close_notify would hold the connection for nothing.
  Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (!drain_client) {
    Tcp().socket().close(ignored);
    return;
  }
  // Closing a socket with unread input makes the kernel send a reset, which
  // can destroy the response before the client reads it. So read and
  // discard what the client still sends, until it closes or time runs out.
  linger_buffer_.resize(kLingerChunkBytes);
  Tcp().expires_after(std::min<std::chrono::milliseconds>(kMaxLingerTime, state_.options.idle_timeout));
  Tcp().async_read_some(asio::buffer(linger_buffer_),
                          beast::bind_front_handler(&Session::OnLinger, this->shared_from_this()));
}

template <class Stream>
void Session<Stream>::OnLinger(beast::error_code ec, std::size_t bytes) {
  lingered_bytes_ += bytes;
  if (ec || lingered_bytes_ > kMaxLingerBytes) {
    beast::error_code ignored;
    Tcp().socket().close(ignored);
    return;
  }
  Tcp().async_read_some(asio::buffer(linger_buffer_),
                          beast::bind_front_handler(&Session::OnLinger, this->shared_from_this()));
}

template class Session<PlainStream>;
template class Session<TlsStream>;

}  // namespace mlship::serving::internal
