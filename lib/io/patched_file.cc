// PatchedFile: whole blocks from the base, patched, then the bytes asked
// for.
#include "lib/io/patched_file.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace e2q::io {

Result<std::unique_ptr<PatchedFile>> PatchedFile::Create(
    std::unique_ptr<File> base, BlockPatches patches) {
  E2Q_ASSIGN_OR_RETURN(uint64_t size, base->Size());
  return std::unique_ptr<PatchedFile>(
      new PatchedFile(std::move(base), std::move(patches), size));
}

Result<size_t> PatchedFile::ReadSome(uint64_t offset, void* buf, size_t len) {
  if (offset >= size_ || len == 0) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, size_ - offset));
  const uint64_t bs = patches_.block_size();
  const uint64_t first = offset / bs;
  const uint64_t last = (offset + len - 1) / bs;
  const uint64_t count = last - first + 1;
  // The base may end inside the last block; read only what it has.
  const uint64_t span_end = std::min(size_, (last + 1) * bs);
  if (offset % bs == 0 && len % bs == 0) {
    // Whole blocks: straight into the caller's buffer.
    E2Q_RETURN_IF_ERROR(base_->ReadAt(offset, buf, len));
    E2Q_RETURN_IF_ERROR(
        patches_.Apply(first, count, static_cast<uint8_t*>(buf)));
    return len;
  }
  std::vector<uint8_t> tmp(count * bs, 0);
  E2Q_RETURN_IF_ERROR(
      base_->ReadAt(first * bs, tmp.data(), span_end - first * bs));
  E2Q_RETURN_IF_ERROR(patches_.Apply(first, count, tmp.data()));
  std::memcpy(buf, tmp.data() + (offset - first * bs), len);
  return len;
}

}  // namespace e2q::io
