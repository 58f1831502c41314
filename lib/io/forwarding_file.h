// ForwardingFile: a File that passes every call on to another File, as the
// base of wrappers that change only a few calls (a fault injector, a read
// counter, a second handle on one file).  A wrapper derives from it and
// overrides what it changes; every other call reaches the inner file with
// the same arguments and returns its result or error unchanged.
#ifndef E2Q_LIB_IO_FORWARDING_FILE_H_
#define E2Q_LIB_IO_FORWARDING_FILE_H_

#include <cstddef>
#include <cstdint>

#include "lib/base/status.h"
#include "lib/io/file.h"

namespace e2q::io {

class ForwardingFile : public File {
 public:
  // Forwards to `base`, which is not owned and must outlive this object.
  // The name is base's at construction (File's name never changes).
  explicit ForwardingFile(File* base) : File(base->name()), base_(base) {}

  // Every virtual of File (lib/io/file.h), forwarded.
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    return base_->ReadSome(offset, buf, len);
  }
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override {
    return base_->WriteAt(offset, buf, len);
  }
  Status Sync() override { return base_->Sync(); }
  Result<uint64_t> Size() override { return base_->Size(); }
  Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  bool WritesDirect() const override { return base_->WritesDirect(); }
  Status ZeroRange(uint64_t offset, uint64_t len) override {
    return base_->ZeroRange(offset, len);
  }
  void Prefetch(uint64_t offset, uint64_t len) override {
    base_->Prefetch(offset, len);
  }
  int64_t ReadWaits() const override { return base_->ReadWaits(); }
  Stretch StretchAt(uint64_t offset) override {
    return base_->StretchAt(offset);
  }
  bool Reserve(uint64_t offset, uint64_t len) override {
    return base_->Reserve(offset, len);
  }

  // The file calls are forwarded to.
  File* base() const { return base_; }

 private:
  File* const base_;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_FORWARDING_FILE_H_
