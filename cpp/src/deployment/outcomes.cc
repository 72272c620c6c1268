// OutcomeStore: predictions waiting for labels, joined per version.
#include "mlship/deployment/outcomes.h"

#include <ATen/ATen.h>

#include <cmath>

namespace mlship {
namespace {

// The 95% Wilson score interval of `correct` out of `n`.
std::pair<double, double> Wilson(int64_t correct, int64_t n) {
  if (n == 0) return {0.0, 1.0};
  constexpr double z = 1.959963984540054;
  const double p = static_cast<double>(correct) / static_cast<double>(n);
  const double nn = static_cast<double>(n);
  const double denominator = 1 + z * z / nn;
  const double centre = (p + z * z / (2 * nn)) / denominator;
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denominator;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace

Status OutcomeOptions::Validate() const {
  if (max_pending < 1) return Status::InvalidArgument("outcome max_pending must be >= 1; was " + std::to_string(max_pending));
  if (ttl.count() <= 0) return Status::InvalidArgument("outcome ttl must be positive; was " + std::to_string(ttl.count()) + " s");
  if (window < 1) return Status::InvalidArgument("outcome window must be >= 1; was " + std::to_string(window));
  return Status::Ok();
}

StatusOr<std::unique_ptr<OutcomeStore>> OutcomeStore::Create(OutcomeOptions options, Clock* clock) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<OutcomeStore>(new OutcomeStore(options, clock != nullptr ? clock : SystemClock::Default()));
}

void OutcomeStore::Predicted(const std::string& id, const std::string& version, const at::Tensor& first_output,
                             std::optional<bool> classifier) {
  if (id.empty() || !first_output.defined() || first_output.dim() == 0) return;
  Prediction p;
  p.version = version;
  const at::Tensor out = first_output.detach();
  const bool looks_like_scores = out.dim() == 2 && out.size(1) >= 2 && at::isFloatingType(out.scalar_type());
  if (classifier.value_or(looks_like_scores) && out.dim() == 2) {
    p.classifier = true;
    const at::Tensor classes = out.argmax(1).to(at::kDouble).contiguous();
    p.values.assign(classes.data_ptr<double>(), classes.data_ptr<double>() + classes.numel());
  } else {
    const at::Tensor first = out.reshape({out.size(0), -1}).select(1, 0).to(at::kDouble).contiguous();
    p.values.assign(first.data_ptr<double>(), first.data_ptr<double>() + first.numel());
  }
  const auto now = clock_->Now();
  p.at = now;
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  if (!pending_.emplace(id, std::move(p)).second) return;
  order_.emplace_back(id, now);
  ExpireLocked(now);
}

void OutcomeStore::ExpireLocked(Clock::TimePoint now) {
  while (!order_.empty() &&
         (static_cast<int64_t>(pending_.size()) > options_.max_pending || now - order_.front().second >= options_.ttl)) {
    auto it = pending_.find(order_.front().first);
    // An id joined already left pending_; only a still-waiting one expires.
    if (it != pending_.end() && it->second.at == order_.front().second) {
      pending_.erase(it);
      ++expired_;
    }
    order_.pop_front();
  }
}

OutcomeCounts OutcomeStore::Record(const std::vector<std::string>& ids, const std::vector<std::vector<double>>& labels) {
  OutcomeCounts counts;
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(clock_->Now());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto it = pending_.find(ids[i]);
    if (it == pending_.end() || i >= labels.size() || labels[i].size() != it->second.values.size()) {
      ++counts.unknown;
      continue;
    }
    const Prediction& p = it->second;
    std::deque<Joined>& window = joined_[p.version];
    for (std::size_t r = 0; r < p.values.size(); ++r) {
      Joined j;
      j.classifier = p.classifier;
      j.correct = p.classifier && std::llround(labels[i][r]) == std::llround(p.values[r]);
      j.error = p.values[r] - labels[i][r];
      window.push_back(j);
      if (static_cast<int64_t>(window.size()) > options_.window) window.pop_front();
    }
    pending_.erase(it);
    ++counts.matched;
  }
  unknown_ += counts.unknown;
  return counts;
}

OnlineScore OutcomeStore::ScoreLocked(const std::string& version) const {
  OnlineScore s;
  auto it = joined_.find(version);
  if (it == joined_.end()) return s;
  double squared = 0.0;
  double absolute = 0.0;
  for (const Joined& j : it->second) {
    ++s.rows;
    s.classifier = s.classifier || j.classifier;
    s.correct += j.correct ? 1 : 0;
    squared += j.error * j.error;
    absolute += std::abs(j.error);
  }
  if (s.rows > 0) {
    s.accuracy = static_cast<double>(s.correct) / static_cast<double>(s.rows);
    std::tie(s.accuracy_low, s.accuracy_high) = Wilson(s.correct, s.rows);
    s.mse = squared / static_cast<double>(s.rows);
    s.mae = absolute / static_cast<double>(s.rows);
  }
  return s;
}

OnlineScore OutcomeStore::Score(const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ScoreLocked(version);
}

std::vector<std::string> OutcomeStore::Versions() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [version, window] : joined_) out.push_back(version);
  return out;
}

AccuracyComparison OutcomeStore::Compare(const std::string& candidate, const std::string& stable) const {
  std::lock_guard<std::mutex> lock(mu_);
  AccuracyComparison c;
  c.candidate = ScoreLocked(candidate);
  c.stable = ScoreLocked(stable);
  const double n1 = static_cast<double>(c.candidate.rows);
  const double n2 = static_cast<double>(c.stable.rows);
  if (n1 == 0 || n2 == 0) return c;
  const double pooled = (static_cast<double>(c.candidate.correct) + static_cast<double>(c.stable.correct)) / (n1 + n2);
  const double se = std::sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se <= 0) return c;
  c.z = (c.candidate.accuracy - c.stable.accuracy) / se;
  c.p_value = 0.5 * std::erfc(-c.z / std::sqrt(2.0));  // P(Z <= z)
  return c;
}

int64_t OutcomeStore::unknown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unknown_;
}

int64_t OutcomeStore::expired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return expired_;
}

int64_t OutcomeStore::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(pending_.size());
}

}  // namespace mlship
