// PatchedFile: a read-only File that shows another File with BlockPatches
// applied, so that a planned set of block changes (a normalised snapshot
// image, a scrambled copy) can be read by libext2fs and copied by the copy
// pipeline like any device.
#ifndef E2Q_LIB_IO_PATCHED_FILE_H_
#define E2Q_LIB_IO_PATCHED_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "lib/base/status.h"
#include "lib/io/block_patches.h"
#include "lib/io/file.h"

namespace e2q::io {

class PatchedFile : public ReadOnlyFile {
 public:
  // Takes ownership of `base` and `patches`; the name is base's.  The size
  // is base's size when created.  Reads are thread-safe when base's are.
  static Result<std::unique_ptr<PatchedFile>> Create(std::unique_ptr<File> base,
                                                     BlockPatches patches);

  const BlockPatches& patches() const { return patches_; }
  File* base() const { return base_.get(); }

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Result<uint64_t> Size() override { return size_; }

 private:
  PatchedFile(std::unique_ptr<File> base, BlockPatches patches, uint64_t size)
      : ReadOnlyFile(base->name()),
        base_(std::move(base)),
        patches_(std::move(patches)),
        size_(size) {}
  std::unique_ptr<File> base_;
  BlockPatches patches_;
  uint64_t size_;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_PATCHED_FILE_H_
