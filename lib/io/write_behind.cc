// WriteBehind (see write_behind.h).
#include "lib/io/write_behind.h"

#include <system_error>
#include <utility>

namespace e2q::io {

WriteBehind::~WriteBehind() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status WriteBehind::Submit(uint64_t offset, AlignedBuffer* buf) {
  E2Q_RETURN_IF_ERROR(Drain());
  if (buf->empty()) return Status::OK();
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { Main(); });
    } catch (const std::system_error&) {
      // No thread to be had: write on the caller's thread, and hand back
      // the buffer emptied as after a hand-over.
      E2Q_RETURN_IF_ERROR(out_->WriteAt(offset, buf->data(), buf->size()));
      buf->clear();
      return Status::OK();
    }
  }
  if (inflight_.capacity() != buf->capacity()) {
    inflight_ = AlignedBuffer(buf->capacity());
  }
  std::swap(inflight_, *buf);
  buf->clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    offset_ = offset;
    busy_ = true;
  }
  cv_.notify_all();
  return Status::OK();
}

Status WriteBehind::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !busy_; });
  return std::exchange(status_, Status::OK());
}

void WriteBehind::Main() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return busy_ || stop_; });
    if (!busy_) return;  // stop_, nothing in flight
    const uint64_t offset = offset_;
    lock.unlock();
    Status s = out_->WriteAt(offset, inflight_.data(), inflight_.size());
    lock.lock();
    status_ = std::move(s);
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace e2q::io
