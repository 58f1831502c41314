// ReadAhead: a pool of threads reading announced ranges (read_ahead.h).
#include "lib/io/read_ahead.h"

#include <algorithm>
#include <system_error>

#include "lib/io/aligned_buffer.h"

namespace e2q::io {

ReadAhead::~ReadAhead() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
    queued_bytes_ = 0;
  }
  work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ReadAhead::Announce(uint64_t offset, uint64_t len) {
  if (len == 0) return;
  int pieces = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    if (threads_.empty()) {
      // A hint never fails: without threads (a process at its limit) it
      // is dropped, with fewer the pool works with those.
      try {
        for (int i = 0; i < kThreads; ++i) {
          threads_.emplace_back([this] { Work(); });
        }
      } catch (const std::system_error&) {
        if (threads_.empty()) return;
      }
    }
    while (len != 0 && queued_bytes_ < kMaxQueuedBytes) {
      const uint64_t n = std::min(len, kPieceBytes);
      queue_.push_back({offset, n});
      queued_bytes_ += n;
      offset += n;
      len -= n;
      ++pieces;
    }
  }
  // One waiting thread per piece: waking all of them for every hint cost
  // a cold -Q a fifth of its time in futex wake-ups.
  if (pieces >= kThreads) {
    work_.notify_all();
  } else {
    for (int i = 0; i < pieces; ++i) work_.notify_one();
  }
}

void ReadAhead::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

uint64_t ReadAhead::queued_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_bytes_;
}

void ReadAhead::Work() {
  AlignedBytes buf = AllocateAligned(kPieceBytes);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const Piece p = queue_.front();
    queue_.pop_front();
    queued_bytes_ -= p.len;
    ++busy_;
    lock.unlock();
    uint64_t done = 0;
    while (done < p.len) {
      Result<size_t> r =
          file_->ReadSome(p.offset + done, buf.get(), p.len - done);
      if (!r.ok() || *r == 0) break;
      done += *r;
    }
    lock.lock();
    if (--busy_ == 0 && queue_.empty()) idle_.notify_all();
  }
}

}  // namespace e2q::io
