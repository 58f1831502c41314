// BatchPool: runs one batch of independent items at a time on helper
// threads and the calling thread.  Every thread claims the next unclaimed
// item from a shared counter, so the split adapts to uneven items; callers
// put each item's result in a slot of its own, which keeps results
// independent of the number of threads and of who did which item.
//
// Shared by the cluster compressor and the content digest's chunk hasher.
#ifndef E2Q_LIB_BASE_BATCH_POOL_H_
#define E2Q_LIB_BASE_BATCH_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/base/status.h"

namespace e2q {

class BatchPool {
 public:
  // Runs item `item` on thread `thread` (0: the caller; 1..helpers: the
  // helpers), so per-thread state can be indexed by it.
  using Work = std::function<void(unsigned thread, size_t item)>;

  // Starts `helpers` threads; `what` names the user in an error
  // ("compressor: start thread: ...").
  static Result<std::unique_ptr<BatchPool>> Create(unsigned helpers,
                                                   const std::string& what);
  ~BatchPool();
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;

  unsigned helpers() const { return static_cast<unsigned>(workers_.size()); }

  // Posts a batch of `n` items and returns at once: the helpers start on
  // it while the caller does other work.  One batch at a time; `work` must
  // stay callable until Finish() returns.
  void Start(size_t n, Work work);
  // Does the items no helper has claimed yet on the calling thread, then
  // waits until the helpers are done with the batch.
  void Finish();
  // Start() and Finish() together.
  void Run(size_t n, Work work) {
    Start(n, std::move(work));
    Finish();
  }

 private:
  BatchPool() = default;
  void Main(unsigned thread);
  void Claim(unsigned thread);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_;  // a batch was posted, or stop_
  std::condition_variable done_cv_;   // busy_ reached 0
  uint64_t generation_ = 0;           // batches posted to the helpers
  unsigned busy_ = 0;                 // helpers still on this batch
  bool stop_ = false;

  // The current batch: set under mu_ before the helpers are woken, so
  // their reads are ordered after these writes.
  Work work_;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
};

}  // namespace e2q

#endif  // E2Q_LIB_BASE_BATCH_POOL_H_
