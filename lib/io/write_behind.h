// WriteBehind: writes a full buffer to a File on a thread of its own while
// the caller fills the next one, so that the copy into the page cache (or,
// with O_DIRECT, the wait for the disk) overlaps the rest of the export.
//
// At most one write is in flight.  Writes reach the file one at a time and
// in the order they were handed over, so a caller that Drain()s before
// touching the file itself sees it exactly as with synchronous writes.  A
// failed write is reported by the next Submit() or Drain().
#ifndef E2Q_LIB_IO_WRITE_BEHIND_H_
#define E2Q_LIB_IO_WRITE_BEHIND_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "lib/base/status.h"
#include "lib/io/aligned_buffer.h"
#include "lib/io/file.h"

namespace e2q::io {

class WriteBehind {
 public:
  // `out` (not owned) must outlive this object.  The thread starts with
  // the first Submit().
  explicit WriteBehind(File* out) : out_(out) {}
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Waits for the write in flight, then starts writing `*buf` at `offset`
  // and hands back in `*buf` an empty buffer of the same capacity.  Returns
  // the status of the write waited for (on an error nothing is started and
  // `*buf` is unchanged).
  Status Submit(uint64_t offset, AlignedBuffer* buf);
  // Waits for the write in flight; returns its status.
  Status Drain();

 private:
  void Main();

  File* out_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  AlignedBuffer inflight_{0};  // the buffer being written (owned here)
  uint64_t offset_ = 0;
  bool busy_ = false;  // inflight_ is being written
  bool stop_ = false;
  Status status_;  // of the last write, until Drain() or Submit() takes it
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_WRITE_BEHIND_H_
