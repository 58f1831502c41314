// WindowFile: a read-only File showing bytes [offset, offset + length) of
// another File as its whole content, so that a filesystem inside a disk
// image (a partition, e2image's -o offset) can be opened and copied like a
// device of its own.
#ifndef E2Q_LIB_IO_WINDOW_FILE_H_
#define E2Q_LIB_IO_WINDOW_FILE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "lib/base/status.h"
#include "lib/io/file.h"

namespace e2q::io {

class WindowFile : public ReadOnlyFile {
 public:
  // Takes ownership of `base`; the name is base's.  The window must lie
  // within base's size when created (kInvalidArgument otherwise, naming
  // the base: "NAME: window at offset O: ..."); its length is fixed then.
  // Reads are thread-safe when base's are.
  static Result<std::unique_ptr<WindowFile>> Create(std::unique_ptr<File> base,
                                                    uint64_t offset,
                                                    uint64_t length);
  // Bytes [offset, end of base): the same, with the length base's rest.
  static Result<std::unique_ptr<WindowFile>> CreateToEnd(
      std::unique_ptr<File> base, uint64_t offset);

  uint64_t offset() const { return offset_; }
  File* base() const { return base_.get(); }

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Result<uint64_t> Size() override { return length_; }
  void Prefetch(uint64_t offset, uint64_t len) override {
    if (offset >= length_) return;
    base_->Prefetch(offset_ + offset, std::min(len, length_ - offset));
  }
  int64_t ReadWaits() const override { return base_->ReadWaits(); }
  // Base's stretch, cut at the window's end.
  Stretch StretchAt(uint64_t offset) override;

 private:
  WindowFile(std::unique_ptr<File> base, uint64_t offset, uint64_t length)
      : ReadOnlyFile(base->name()),
        base_(std::move(base)),
        offset_(offset),
        length_(length) {}
  std::unique_ptr<File> base_;
  uint64_t offset_;
  uint64_t length_;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_WINDOW_FILE_H_
