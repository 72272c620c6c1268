// SequenceBatching: how requests that differ only in one variable
// dimension (a sequence length) share a batch, declared in the signature.
//
// Off by default (dim 0). When on, requests whose every input has the same
// length along `dim` are batched with requests of other lengths in the same
// bucket: each input is padded at the end of `dim` to the longest in the
// batch with its pad value (an attention mask pads with 0, the default,
// so the model ignores the padding), and every output whose declared
// dimension `dim` is dynamic is cut back to each request's own length.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace mlship {

struct SequenceBatching {
  // The input dimension that varies per request (>= 1); 0 = off, the
  // default. Every input must declare it dynamic (-1).
  int dim = 0;
  // The value each input is padded with, by input name; inputs not named
  // pad with 0 (right for an attention mask; give the ids their pad token).
  std::map<std::string, double> pad;
  // Requests share a batch only when their lengths fall in the same bucket
  // of this width (1..bucket, bucket+1..2*bucket, ...), so a request's
  // padding stays under `bucket` positions. Default 16; range 1..max_length.
  int64_t bucket = 16;
  // Requests longer than this run alone, unpadded. Default 512.
  int64_t max_length = 512;

  bool enabled() const { return dim > 0; }
  bool operator==(const SequenceBatching&) const = default;
};

}  // namespace mlship
