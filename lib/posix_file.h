// POSIX File implementations.  PosixFile does positioned I/O on a
// descriptor; StreamFile writes forward only (pipes, terminals), filling
// gaps between writes with zeros so that a sparse writer can use it.
#ifndef E2Q_LIB_POSIX_FILE_H_
#define E2Q_LIB_POSIX_FILE_H_

#include "lib/file.h"

namespace e2q {

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
  int fd() const { return fd_; }

 private:
  int fd_;
  bool owns_fd_;
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

}  // namespace e2q

#endif  // E2Q_LIB_POSIX_FILE_H_
