// BatchPool (see batch_pool.h).
#include "lib/base/batch_pool.h"

#include <system_error>

namespace e2q {

Result<std::unique_ptr<BatchPool>> BatchPool::Create(unsigned helpers,
                                                     const std::string& what) {
  std::unique_ptr<BatchPool> pool(new BatchPool());
  try {
    for (unsigned id = 1; id <= helpers; ++id) {
      pool->workers_.emplace_back(&BatchPool::Main, pool.get(), id);
    }
  } catch (const std::system_error& e) {
    return Status::IOError(what + ": start thread: " + e.what());
  }
  return pool;
}

BatchPool::~BatchPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void BatchPool::Start(size_t n, Work work) {
  // A batch of one is not worth waking anybody for.
  const unsigned helpers = n > 1 ? this->helpers() : 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_ = std::move(work);
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    busy_ = helpers;
    if (helpers > 0) ++generation_;
  }
  if (helpers > 0) start_cv_.notify_all();
}

void BatchPool::Finish() {
  Claim(0);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return busy_ == 0; });
}

void BatchPool::Main(unsigned thread) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    Claim(thread);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--busy_ == 0) done_cv_.notify_one();
    }
  }
}

void BatchPool::Claim(unsigned thread) {
  for (;;) {
    const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_) return;
    work_(thread, i);
  }
}

}  // namespace e2q
