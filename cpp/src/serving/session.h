// Session: one client connection, serving requests one after another
// (internal).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http_types.h"
#include "server_state.h"

namespace mlship::serving::internal {

// What the server knows of a connection whatever it runs over (plain TCP
// or TLS): the registry of live sessions holds these.
class Connection : public Responder {
 public:
  // kServe reads requests; kReject answers 503 at once (the server is at
  // max_connections) and closes.
  enum class Mode { kServe, kReject };

  // Asks the connection to finish: an idle connection closes now, a busy
  // one after its current response. Safe from any thread.
  virtual void Drain() = 0;
};

// The two kinds of connection.
using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// Reads a request, has it handled, writes the response, and repeats while
// the client keeps the connection alive. All of its work runs on the
// connection's strand, so its members need no lock; other threads reach it
// only through Responder::Respond posted to executor(), and Drain().
//
// When a response is sent before its request was fully read (413, 431, 400,
// 401 with a body, 503 when full), the session shuts down its sending side
// and reads (and discards) what the client still sends for a short while
// before closing, so the response reaches the client instead of being lost
// to a TCP reset.
//
// `Stream` is PlainStream or TlsStream (the two instantiations, in
// session.cc). Over TLS the session first reads enough to tell a TLS
// ClientHello from plain HTTP: plain HTTP gets a 400 in plain text saying
// to use https, a ClientHello the handshake, both bounded by idle_timeout.
// A failed handshake (an old protocol version, no or a bad client
// certificate under mTLS) closes the connection.
template <class Stream>
class Session : public Connection, public std::enable_shared_from_this<Session<Stream>> {
 public:
  // `tls` is the context of a TlsStream session (it stays alive as long as
  // the session, whatever a reload does); null for PlainStream.
  Session(ServerState& state, boost::asio::ip::tcp::socket socket, Mode mode,
          std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  ~Session() override;

  // Registers with the state and begins (on the strand).
  void Start();
  // Connection.
  void Drain() override;

  // Responder.
  void Respond(HttpResponse response) override;
  boost::asio::any_io_executor executor() override;
  void HandedToBackend() override { handed_to_backend_ = true; }

 private:
  // Where the session is in its request cycle.
  enum class Phase { kAwaitingRequest, kReadingBody, kHandling, kWriting, kClosing };

  // TLS only: tells TLS from plain HTTP, then handshakes.
  void DetectTls();
  void OnDetected(boost::beast::error_code ec, bool is_tls);
  void OnHandshake(boost::beast::error_code ec, std::size_t bytes_used);
  // After the handshake (at once for plain TCP): reads or rejects.
  void Begin();
  // The TCP layer under the stream (timeouts, cancel, the socket).
  boost::beast::tcp_stream& Tcp() { return boost::beast::get_lowest_layer(stream_); }
  void ReadHeader();
  // One read_some of the header (see session.cc for why not async_read_header).
  void ReadMoreHeader();
  void OnHeaderPart(boost::beast::error_code ec, std::size_t bytes);
  void OnHeader(boost::beast::error_code ec, std::size_t bytes);
  void ReadBody();
  // One read_some of the body; Drain() is checked between them.
  void ReadMoreBody();
  void OnBodyPart(boost::beast::error_code ec, std::size_t bytes);
  void OnBody(boost::beast::error_code ec, std::size_t bytes);
  // Answers a failed read: silently closes on disconnects and timeouts,
  // answers 413/431/400 for requests that broke a limit or the grammar.
  void OnReadError(boost::beast::error_code ec);
  // Sends `response` and closes the connection afterwards.
  void RespondAndClose(HttpResponse response);
  // The 503 for a body that Drain() cut short: the client should retry elsewhere.
  void RefuseCutShortBody();
  void OnWrite(boost::beast::error_code ec, std::size_t bytes);
  // Shuts down sending and closes; with `drain_client`, first reads and
  // discards the client's leftovers (bounded in time and bytes).
  void Close(bool drain_client);
  void OnLinger(boost::beast::error_code ec, std::size_t bytes);
  // Counts the current request against max_inflight_bytes; false (nothing
  // counted) when the budget has no room for it.
  bool ChargeInflightBytes();
  // Gives back what the current request counted.
  void ReleaseInflightBytes();
  // Tells the Backend about an error response to a request it never saw.
  void ReportRefusal(int http_status);
  // Records `response` in the audit log (when there is one) as `action`,
  // with who asked, from where, the method and path; returns it unchanged.
  HttpResponse Audited(std::string_view action, HttpResponse response);

  // Shared server state; outlives the session (see ServerState).
  ServerState& state_;
  // Serving or rejecting; fixed.
  const Mode mode_;
  // The TLS context the stream was made with (null for plain TCP); declared
  // before stream_, which refers to it.
  const std::shared_ptr<boost::asio::ssl::context> tls_;
  // The connection, with per-operation timeouts (on its TCP layer).
  Stream stream_;
  // Bytes read but not yet parsed; persists across keep-alive requests.
  // Bounded (max_header_bytes + 64 KiB) so that no header, chunk header or
  // pipelined burst can grow it without limit.
  boost::beast::flat_buffer buffer_;
  // Parses the request being read; re-created for each request.
  std::optional<http::request_parser<http::string_body>> parser_;
  // The response being written; must live until the write completes.
  HttpResponse response_;
  // HTTP version of the current request (10 or 11), echoed in the response.
  unsigned request_version_ = 11;
  // Whether the current request allows keeping the connection open.
  bool request_keep_alive_ = false;
  // The current request's target, once its header is read (empty before);
  // read only to attribute a refusal. Reuses its buffer across requests.
  std::string request_target_;
  // The current request's method, once its header is read (empty before);
  // read only for the audit log.
  std::string request_method_;
  // The client's address, for the audit log.
  boost::asio::ip::tcp::endpoint remote_;
  // When the current request is a control action (a repository or rollout
  // endpoint) and the audit log is on: its audit action, recorded with the
  // response; and who asked, taken from the header before the request is
  // handed on. Empty otherwise.
  std::string control_action_;
  std::string control_who_;
  // The current request's Origin when allowed_origins lets it read the
  // response (echoed in Access-Control-Allow-Origin); empty otherwise.
  std::string cors_origin_;
  // Set when the current request reached Backend::Infer.
  bool handed_to_backend_ = false;
  // Set when the connection must close after the current response.
  bool close_after_write_ = false;
  // Set when that close must drain input first (the request was not read
  // to its end).
  bool drain_client_on_close_ = false;
  // Set by Drain(); no new request is started after it.
  bool draining_ = false;
  // Where the session is.
  Phase phase_ = Phase::kAwaitingRequest;
  // What the current request counts against max_inflight_bytes.
  std::size_t charged_bytes_ = 0;
  // Scratch space for draining the client's leftovers when closing.
  std::vector<char> linger_buffer_;
  // Bytes discarded while closing, bounded by kMaxLingerBytes.
  std::size_t lingered_bytes_ = 0;
};

extern template class Session<PlainStream>;
extern template class Session<TlsStream>;

}  // namespace mlship::serving::internal
