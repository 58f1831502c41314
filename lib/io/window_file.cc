// WindowFile: bounds checked once at creation, then reads shifted by the
// window's offset and clipped to its length.
#include "lib/io/window_file.h"

#include <algorithm>
#include <string>

namespace e2q::io {

Result<std::unique_ptr<WindowFile>> WindowFile::Create(
    std::unique_ptr<File> base, uint64_t offset, uint64_t length) {
  E2Q_ASSIGN_OR_RETURN(uint64_t size, base->Size());
  const std::string where =
      base->name() + ": window at offset " + std::to_string(offset);
  if (offset > size) {
    return Status::InvalidArgument(where + ": beyond the end of the file (" +
                                   std::to_string(size) + " bytes)");
  }
  if (length > size - offset) {  // offset + length, without overflow
    return Status::InvalidArgument(
        where + ", " + std::to_string(length) +
        " bytes long: ends beyond the end of the file (" +
        std::to_string(size) + " bytes)");
  }
  return std::unique_ptr<WindowFile>(
      new WindowFile(std::move(base), offset, length));
}

Result<std::unique_ptr<WindowFile>> WindowFile::CreateToEnd(
    std::unique_ptr<File> base, uint64_t offset) {
  E2Q_ASSIGN_OR_RETURN(uint64_t size, base->Size());
  return Create(std::move(base), offset, size >= offset ? size - offset : 0);
}

Result<size_t> WindowFile::ReadSome(uint64_t offset, void* buf, size_t len) {
  if (offset >= length_ || len == 0) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, length_ - offset));
  // offset_ + offset < offset_ + length_ <= base's size: no overflow.
  E2Q_RETURN_IF_ERROR(base_->ReadAt(offset_ + offset, buf, len));
  return len;
}

File::Stretch WindowFile::StretchAt(uint64_t offset) {
  if (offset >= length_) return {};
  Stretch s = base_->StretchAt(offset_ + offset);
  // offset_ + offset < offset_ + length_: no overflow, and s.end is past it.
  s.end = std::min(s.end - offset_, length_);
  return s;
}

}  // namespace e2q::io
