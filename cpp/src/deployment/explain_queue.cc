// ExplainQueue: a bounded FIFO and its low-priority workers.
#include "mlship/deployment/explain_queue.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mlship/thread_name.h"

namespace mlship {
namespace {

// Lowers the calling thread's priority. On Linux, setpriority with a thread
// id changes that thread only (a documented deviation from POSIX).
void LowerThisThreadPriority(int nice) {
#ifdef __linux__
  if (nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
#else
  (void)nice;
#endif
}

}  // namespace

Status ExplainQueueOptions::Validate() const {
  if (max_queue_size < 1 || max_queue_size > 4096) {
    return Status::InvalidArgument("explain_queue_size must be in [1, 4096]; was " + std::to_string(max_queue_size));
  }
  if (threads < 1 || threads > 64) {
    return Status::InvalidArgument("explain threads must be in [1, 64]; was " + std::to_string(threads));
  }
  if (nice < 0 || nice > 19) return Status::InvalidArgument("explain nice must be in [0, 19]; was " + std::to_string(nice));
  return Status::Ok();
}

StatusOr<std::unique_ptr<ExplainQueue>> ExplainQueue::Create(ExplainQueueOptions options) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<ExplainQueue> queue(new ExplainQueue(std::move(options)));
  for (int i = 0; i < queue->options_.threads; ++i) {
    queue->workers_.emplace_back(&ExplainQueue::WorkerLoop, queue->state_, queue->options_.nice);
    NameThread(queue->workers_.back(), queue->options_.thread_name);
  }
  return queue;
}

ExplainQueue::ExplainQueue(ExplainQueueOptions options)
    : options_(std::move(options)), state_(std::make_shared<State>()) {}

ExplainQueue::~ExplainQueue() { Stop(); }

Status ExplainQueue::Submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopping) return Status::Unavailable("the explanation queue is stopping; retry later");
    if (static_cast<int>(state_->jobs.size()) >= options_.max_queue_size) {
      return Status::Unavailable("the explanation queue is full (" + std::to_string(options_.max_queue_size) +
                                 " waiting, explain_queue_size); retry later");
    }
    state_->jobs.push_back(std::move(job));
  }
  state_->cv.notify_one();
  return Status::Ok();
}

int ExplainQueue::queued() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return static_cast<int>(state_->jobs.size());
}

int ExplainQueue::running() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->running;
}

void ExplainQueue::WorkerLoop(std::shared_ptr<State> state, int nice) {
  LowerThisThreadPriority(nice);
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->stopping || !state->jobs.empty(); });
      if (state->jobs.empty()) return;  // stopping, nothing left
      job = std::move(state->jobs.front());
      state->jobs.pop_front();
      ++state->running;
    }
    job(Status::Ok());
    job = nullptr;  // release what it captured before counting it done
    std::lock_guard<std::mutex> lock(state->mu);
    --state->running;
  }
}

void ExplainQueue::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::deque<Job> refused;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
    refused.swap(state_->jobs);
  }
  state_->cv.notify_all();
  for (Job& job : refused) job(Status::Unavailable("the model version stopped before this explanation ran"));
  for (std::thread& t : workers_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // this worker is destroying its own queue; it exits on its own
    } else {
      t.join();
    }
  }
  workers_.clear();
}

}  // namespace mlship
