// ReadAhead: reads announced ranges of a File on a pool of threads, so
// that a device with latency works on many requests at once.
//
// File::Prefetch is a hint; posix_fadvise(WILLNEED) leaves how many reads
// it starts to the kernel, which on some devices is few: through FUSE at
// most max_background (12) at a time, and it reads the whole hinted range,
// gaps included.  The pool instead keeps kThreads reads of at most
// kPieceBytes in flight, reading exactly what was announced (into a
// scratch buffer: the point is the page cache they fill, from which the
// caller's own read of the same range then comes; a read the caller makes
// first just waits for the same pages, the kernel does not read them
// twice).  Read errors are ignored: the caller's read reports them.
//
// Threads start at the first announcement, so a warm run that never
// announces anything costs nothing.  At most kMaxQueuedBytes wait; later
// announcements beyond that are dropped.  Thread-safe.
#ifndef E2Q_LIB_IO_READ_AHEAD_H_
#define E2Q_LIB_IO_READ_AHEAD_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/io/file.h"

namespace e2q::io {

class ReadAhead {
 public:
  static constexpr int kThreads = 16;
  // Cold -Q from this VM's disk, medians of 7 (bench/README.md): meta 451
  // ms with 128 KiB pieces, 345 ms with 512 KiB, usr 309 and 279 ms; 1 MiB
  // gained nothing more, and through the FUSE device of slow_device.sh
  // (128 KiB per request) all three were alike.
  static constexpr uint64_t kPieceBytes = 512 << 10;
  static constexpr uint64_t kMaxQueuedBytes = 64 << 20;

  // Reads `file` (not owned; must outlive this object and allow reads from
  // several threads at once).
  explicit ReadAhead(File* file) : file_(file) {}
  // Drops what is still queued and waits for the reads in flight.
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // Queues [offset, offset + len) in pieces of at most kPieceBytes.
  void Announce(uint64_t offset, uint64_t len);
  // For tests: waits until everything queued so far has been read; the
  // bytes queued and not yet being read.
  void Drain();
  uint64_t queued_bytes();

 private:
  struct Piece {
    uint64_t offset;
    uint64_t len;
  };
  void Work();

  File* const file_;
  std::mutex mu_;
  std::condition_variable work_;  // a piece queued, or stopping
  std::condition_variable idle_;  // nothing queued or being read
  std::deque<Piece> queue_;
  uint64_t queued_bytes_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_READ_AHEAD_H_
