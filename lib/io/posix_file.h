// POSIX File implementations.  PosixFile does positioned I/O on a
// descriptor; StreamFile writes forward only (pipes, terminals), filling
// gaps between writes with zeros so that a sparse writer can use it.
#ifndef E2Q_LIB_IO_POSIX_FILE_H_
#define E2Q_LIB_IO_POSIX_FILE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "lib/io/file.h"
#include "lib/io/read_ahead.h"

namespace e2q::io {

class PosixFile : public File {
 public:
  PosixFile(std::string name, int fd, bool owns_fd)
      : File(std::move(name)), fd_(fd), owns_fd_(owns_fd) {}
  ~PosixFile() override;
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override;
  Status Sync() override;
  Result<uint64_t> Size() override;
  Status Truncate(uint64_t size) override;
  // A regular file: a hole punched (FALLOC_FL_PUNCH_HOLE, size kept); a
  // block device: BLKZEROOUT (which unmaps where the device reads unmapped
  // sectors as zeros).  Where neither is supported, zeros are written.
  Status ZeroRange(uint64_t offset, uint64_t len) override;
  bool WritesDirect() const override { return direct_fd_ >= 0; }
  // Read on a pool of threads started at the first call (ReadAhead).
  void Prefetch(uint64_t offset, uint64_t len) override;
  // Each read first asks for what the page cache holds (preadv2 with
  // RWF_NOWAIT), then reads the rest, which waits for the device: such a
  // read is counted.  -1 once the kernel refuses RWF_NOWAIT for this file
  // (FUSE, pipes, kernels before 4.14); reads are then plain preads.
  int64_t ReadWaits() const override;
  // A regular file's holes and data: its extent map (FS_IOC_FIEMAP, after
  // writing its dirty pages back), else lseek SEEK_HOLE and SEEK_DATA; a
  // device, or a file system that can tell neither way, is all data.
  Stretch StretchAt(uint64_t offset) override;
  bool Reserve(uint64_t offset, uint64_t len) override;
  int fd() const { return fd_; }

  // From now on, writes of at least kDirectWriteMin bytes whose offset,
  // length and memory are kDirectIoAlignment-aligned go through a second
  // descriptor opened with O_DIRECT: large image writes then cost a DMA
  // instead of a copy into the page cache, and leave the cache to the
  // source.  Other writes stay buffered (the kernel keeps the two coherent).
  // Best effort: returns false, changing nothing, where the file system
  // refuses O_DIRECT (tmpfs); a later EINVAL turns it off again.
  bool EnableDirectWrites();

  // From now on, buffered writes of at least kDirectWriteMin bytes start
  // their writeback at once (sync_file_range): the disk works while the
  // caller computes the next data, and a final Sync() finds little left to
  // write.  For outputs small enough that the copy into the page cache costs
  // less than waiting for the disk on every write.  Best effort: turned off
  // at the first refusal (a pipe, an unsupported file system).
  void EnableEarlyWriteback() { early_writeback_ = true; }

 private:
  // Writes all of [*p, *p + *len) at *offset in calls of at most
  // `max_call` bytes, advancing the three as it goes; returns 0 or the
  // errno that stopped it.
  static int WriteAll(int fd, uint64_t* offset, const uint8_t** p,
                      size_t* len, size_t max_call = SIZE_MAX);

  int fd_;
  bool owns_fd_;
  int direct_fd_ = -1;
  bool early_writeback_ = false;
  std::atomic<bool> nowait_{true};  // RWF_NOWAIT not refused yet
  std::atomic<int64_t> read_waits_{0};
  // How StretchAt asks: not known yet, FIEMAP, lseek, or not at all (not
  // a regular file, or a file system that can tell neither way).
  enum { kHolesUnknown, kHolesFiemap, kHolesSeek, kHolesNone };
  std::atomic<int> holes_{kHolesUnknown};
  std::once_flag read_ahead_once_;
  std::unique_ptr<ReadAhead> read_ahead_;  // reads this file
};

class StreamFile : public File {
 public:
  StreamFile(std::string name, int fd) : File(std::move(name)), fd_(fd) {}
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  // `offset` must not be below the current position.
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override;
  Status Sync() override { return Status::OK(); }
  Result<uint64_t> Size() override { return pos_; }
  // Pads with zeros up to `size`.
  Status Truncate(uint64_t size) override;

 private:
  Status WriteAll(const void* buf, size_t len);
  Status WriteZeros(uint64_t count);
  int fd_;
  uint64_t pos_ = 0;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_POSIX_FILE_H_
